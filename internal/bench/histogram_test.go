package bench

import (
	"math"
	"testing"
	"time"
)

func within(t *testing.T, name string, got, want time.Duration, tolerance float64) {
	t.Helper()
	if diff := math.Abs(float64(got - want)); diff > tolerance*float64(want) {
		t.Errorf("%s = %v, want %v ± %.1f %%", name, got, want, 100*tolerance)
	}
}

func TestHistogram_UniformValues_PercentilesWithinOnePercent(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 100_000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	if h.Count() != 100_000 {
		t.Fatalf("Count = %d", h.Count())
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {95, 95 * time.Millisecond}, {99, 99 * time.Millisecond}, {99.9, 99900 * time.Microsecond}} {
		within(t, "percentile", h.Percentile(c.q), c.want, 0.01)
	}
	if h.Min() != time.Microsecond || h.Max() != 100*time.Millisecond || h.Percentile(100) != h.Max() {
		t.Errorf("min %v max %v p100 %v: want the exact extremes", h.Min(), h.Max(), h.Percentile(100))
	}
	within(t, "mean", h.Mean(), 50000500*time.Nanosecond, 1e-9)
}

func TestHistogram_SmallValues_AreExact(t *testing.T) {
	h := NewHistogram()
	for _, v := range []time.Duration{3, 7, 7, 200} {
		h.Record(v)
	}
	if got := h.Percentile(50); got != 7 {
		t.Errorf("p50 = %d, want 7", got)
	}
	if got := h.Percentile(0); got != 3 {
		t.Errorf("p0 = %d, want 3", got)
	}
}

func TestHistogram_Empty_AnswersZero(t *testing.T) {
	h := NewHistogram()
	if h.Percentile(50) != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Errorf("empty histogram answered %v %v %v %v", h.Percentile(50), h.Min(), h.Max(), h.Mean())
	}
	if s := h.Summary(); s != (Latency{}) {
		t.Errorf("Summary = %+v", s)
	}
}

func TestHistogram_Merge_EqualsRecordingEverythingInOne(t *testing.T) {
	all, a, b := NewHistogram(), NewHistogram(), NewHistogram()
	for i := range 5000 {
		d := time.Duration(i*i) * time.Nanosecond
		all.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(b)
	a.Merge(nil)
	a.Merge(NewHistogram())
	for _, q := range []float64{1, 50, 90, 99, 100} {
		if a.Percentile(q) != all.Percentile(q) {
			t.Errorf("p%v merged %v, single %v", q, a.Percentile(q), all.Percentile(q))
		}
	}
	if a.Count() != all.Count() || a.Min() != all.Min() || a.Max() != all.Max() || a.Mean() != all.Mean() {
		t.Errorf("merged %d/%v/%v/%v, single %d/%v/%v/%v", a.Count(), a.Min(), a.Max(), a.Mean(),
			all.Count(), all.Min(), all.Max(), all.Mean())
	}
}

func TestHistogram_OutOfRangeValues_AreClamped(t *testing.T) {
	h := NewHistogram()
	h.Record(-time.Second)
	h.Record(2 * maxTracked)
	if h.Min() != 0 || h.Max() != maxTracked {
		t.Errorf("min %v max %v, want 0 and %v", h.Min(), h.Max(), maxTracked)
	}
}

func TestBucketIndex_EveryValueFallsInItsBucketWithinPrecision(t *testing.T) {
	for v := int64(0); v < int64(maxTracked); v = v*17/16 + 1 {
		i := bucketIndex(v)
		low, width := bucketBounds(i)
		if v < low || v >= low+width {
			t.Fatalf("value %d in bucket %d [%d, %d)", v, i, low, low+width)
		}
		if v >= subCount && float64(width)/float64(low) > 1.0/halfCount+1e-12 {
			t.Fatalf("bucket %d of value %d is %d wide from %d: coarser than 1/%d", i, v, width, low, halfCount)
		}
		if i >= bucketCount {
			t.Fatalf("value %d indexes bucket %d of %d", v, i, bucketCount)
		}
	}
}

func TestHistogram_Summary_IsInMilliseconds(t *testing.T) {
	h := NewHistogram()
	h.Record(1500 * time.Microsecond)
	s := h.Summary()
	if s.Count != 1 || math.Abs(s.P50-1.5) > 0.02 || s.Max != 1.5 || s.Mean != 1.5 {
		t.Errorf("Summary = %+v", s)
	}
}
