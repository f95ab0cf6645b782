package service_test

import (
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/service"
)

func TestFormatDuration_WritesTheLargestWholeUnit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{7 * 24 * time.Hour, "7d"},
		{24 * time.Hour, "1d"},
		{36 * time.Hour, "36h"},
		{12 * time.Hour, "12h"},
		{90 * time.Minute, "90m"},
		{30 * time.Minute, "30m"},
		{45 * time.Second, "45s"},
		{90 * time.Second, "90s"},
		{3601 * time.Second, "3601s"},
	}
	for _, tc := range tests {
		if got := service.FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestNormalizeEmail_TrimsAndLowerCases(t *testing.T) {
	t.Parallel()
	if got := service.NormalizeEmail("  Foo@X.COM "); got != "foo@x.com" {
		t.Errorf("NormalizeEmail = %q, want foo@x.com", got)
	}
}
