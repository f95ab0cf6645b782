package httpapi_test

// Fuzz targets over the decoding and validation of the accounts bodies, through the real
// router. `go test` runs the seeds only; `go test -fuzz=FuzzDecodeRegister ./internal/httpapi`
// explores. Each target builds one gateway, outside f.Fuzz.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wagateway/gateway/internal/testenv"
)

// acctFuzzGateway is a gateway with every rate limit out of the fuzzer's way.
func acctFuzzGateway(f *testing.F) *testenv.Gateway {
	f.Helper()
	return acctGateway(f, map[string]string{"RATE_LIMIT_MAX_REQUESTS": "100000000", "AUTH_RATE_LIMIT_PER_MINUTE": "100000"})
}

// acctFuzzSend posts body as JSON to path and checks the answer: never a 5xx, always an
// envelope, and every 400 a well-formed validation_error or bad_request.
func acctFuzzSend(t *testing.T, g *testenv.Gateway, method, path string, body []byte, headers ...string) {
	t.Helper()
	req := httptest.NewRequestWithContext(context.Background(), method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	g.Handler.ServeHTTP(rec, req)

	if rec.Code >= 500 {
		t.Fatalf("body %q: status %d, answer %s", body, rec.Code, rec.Body)
	}
	var env map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("body %q: status %d, the answer is not JSON: %s", body, rec.Code, rec.Body)
	}
	if success, _ := env["success"].(bool); success != (rec.Code < 400) {
		t.Fatalf("body %q: status %d with success %v", body, rec.Code, env["success"])
	}
	if rec.Code < 400 {
		return
	}
	if err := acctCheckErrorEnvelope(env); err != nil {
		t.Fatalf("body %q: status %d, %v: %s", body, rec.Code, err, rec.Body)
	}
	if rec.Code == http.StatusBadRequest && env["type"] != "validation_error" && env["type"] != "bad_request" {
		t.Fatalf("body %q: 400 of type %v", body, env["type"])
	}
}

// acctFuzzSeeds are bodies every target starts from: malformed, empty and oddly typed JSON.
var acctFuzzSeeds = []string{
	``, ` `, `{}`, `null`, `[]`, `[{}]`, `"text"`, `42`, `true`, `{`, `}`, `{"a":}`, `{"a":1,}`,
	"\x00", "{\"name\":\"\x00\"}", `{"name":"\u0000"}`, `{"email":"\ud800@x.com"}`,
	`{"name":1e999}`, `{"name":-0}`, `{"name":[]}`, `{"name":{}}`, `{"name":null}`,
	`{"name":"a","name":"b"}`, `{"nested":{"deep":[[[[[[[[[[1]]]]]]]]]]}}`,
}

func acctAddSeeds(f *testing.F, bodies ...string) {
	for _, b := range append(bodies, acctFuzzSeeds...) {
		f.Add([]byte(b))
	}
}

func FuzzDecodeRegister(f *testing.F) {
	g := acctFuzzGateway(f)
	acctAddSeeds(f,
		`{"name":"Ada Lovelace","email":"ada@example.com","password":"`+acctPassword+`"}`,
		`{"name":"Ada Lovelace","email":"ADA@example.com","password":"`+acctPassword+`"}`,
		`{"name":"   ","email":"spaces@example.com","password":"`+acctPassword+`"}`,
		`{"name":" é ","email":"accent@example.com","password":"`+acctPassword+`"}`,
		`{"name":"Ada","email":42,"password":true}`,
		`{"name":"R2-D2","email":"not-an-email","password":"short"}`,
		`{"name":"Zoë O'Brien-Smith Jr.","email":"zoe+tag@sub.example.co.uk","password":"Üñíçødé-1x"}`,
		`{"name":"Ada Lovelace","email":"ada2@example.com","password":"P@ssw0rd","role":"ADMINISTRATOR"}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		acctFuzzSend(t, g, http.MethodPost, "/api/v1/auth/register", body)
	})
}

func FuzzDecodeLogin(f *testing.F) {
	g := acctFuzzGateway(f)
	acctSignUp(f, g, "fuzz@example.com")
	acctAddSeeds(f,
		`{"email":"fuzz@example.com","password":"`+acctPassword+`"}`,
		`{"email":"FUZZ@example.com","password":"wrong"}`,
		`{"email":"nobody@example.com","password":"x"}`,
		`{"email":"fuzz@example.com"}`,
		`{"email":["fuzz@example.com"],"password":{"$ne":""}}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		acctFuzzSend(t, g, http.MethodPost, "/api/v1/auth/login", body)
	})
}

func FuzzDecodeRefresh(f *testing.F) {
	g := acctFuzzGateway(f)
	u := acctSignUp(f, g, "fuzz@example.com")
	acctAddSeeds(f,
		`{"refreshToken":"`+u.Refresh+`"}`,
		`{"refreshToken":"`+u.Refresh+`"}`, // replayed: revokes the family
		`{"refreshToken":""}`,
		`{"refreshToken":123}`,
		`{"refreshToken":"`+u.Token+`"}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		acctFuzzSend(t, g, http.MethodPost, "/api/v1/auth/refresh", body)
	})
}

func FuzzDecodeChangePassword(f *testing.F) {
	g := acctFuzzGateway(f)
	u := acctSignUp(f, g, "fuzz@example.com")
	acctAddSeeds(f,
		`{"currentPassword":"`+acctPassword+`","newPassword":"N3w-Passphrase!"}`,
		`{"currentPassword":"N3w-Passphrase!","newPassword":"N3w-Passphrase!"}`,
		`{"currentPassword":"wrong","newPassword":"An0ther-Pass!"}`,
		`{"currentPassword":1,"newPassword":2}`,
		`{"newPassword":"weak"}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		// A successful change revokes the caller's token: sign in afresh for every input.
		acctFuzzSend(t, g, http.MethodPost, "/api/v1/auth/change-password", body, acctAuth(acctMintToken(t, g, u.ID))...)
	})
}

func FuzzDecodeResetPassword(f *testing.F) {
	g := acctFuzzGateway(f)
	acctAddSeeds(f,
		`{"token":"bm90LWEtdG9rZW4","newPassword":"Fr3sh-Start!x"}`,
		`{"token":"","newPassword":""}`,
		`{"token":42,"newPassword":"Fr3sh-Start!x"}`,
		`{"token":"x","newPassword":"P@ssw0rd"}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		acctFuzzSend(t, g, http.MethodPost, "/api/v1/auth/reset-password", body)
	})
}

func FuzzDecodeUpdateProfile(f *testing.F) {
	g := acctFuzzGateway(f)
	u := acctSignUp(f, g, "fuzz@example.com")
	acctSignUp(f, g, "taken@example.com")
	acctAddSeeds(f,
		`{"name":"New Name"}`,
		`{"name":""}`,
		`{"name":"   "}`,
		`{"email":"","currentPassword":"`+acctPassword+`"}`,
		`{"email":"taken@example.com","currentPassword":"`+acctPassword+`"}`,
		`{"email":"moved@example.com","currentPassword":"`+acctPassword+`"}`,
		`{"newPassword":"","currentPassword":"`+acctPassword+`"}`,
		`{"newPassword":"N3w-Passphrase!","currentPassword":"`+acctPassword+`"}`,
		`{"newPassword":"N3w-Passphrase!"}`,
		`{"name":null,"email":null,"newPassword":null,"currentPassword":null}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		acctFuzzSend(t, g, http.MethodPut, "/api/v1/users/profile", body, acctAuth(acctMintToken(t, g, u.ID))...)
	})
}
