package httpapi_test

// Fuzz targets over the decoding and validation of the accounts bodies, through the real
// router. `go test` runs the seeds only; `go test -fuzz=FuzzDecodeRegister ./internal/httpapi`
// explores. Each target builds one gateway, outside f.Fuzz.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/wagateway/gateway/internal/testenv"
)

// acctFuzzGateway is a gateway with every rate limit out of the fuzzer's way.
func acctFuzzGateway(f *testing.F) *testenv.Gateway {
	f.Helper()
	return acctGateway(f, map[string]string{"RATE_LIMIT_MAX_REQUESTS": "100000000", "AUTH_RATE_LIMIT_PER_MINUTE": "100000"})
}

// acctFuzzSend posts body as JSON to path and checks the answer with checkAnswer: never a 5xx,
// always an envelope, and every error of the type its status allows.
func acctFuzzSend(t *testing.T, g *testenv.Gateway, method, path string, body []byte, headers ...string) {
	t.Helper()
	res := g.Do(t, method, path, string(body), headers...)
	checkAnswer(t, fmt.Sprintf("%s %s %q", method, path, body), res.Code, res.Header(), res.Body.Bytes(), false)
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

func FuzzDecodeForgotPassword(f *testing.F) {
	g := acctFuzzGateway(f)
	acctSignUp(f, g, "fuzz@example.com")
	acctAddSeeds(f,
		`{"email":"fuzz@example.com"}`,
		`{"email":"FUZZ@Example.com "}`,
		`{"email":"nobody@example.com"}`,
		`{"email":"fuzz@example.com\r\nBcc: victim@example.com"}`,
		`{"email":"' OR 1=1 --@example.com"}`,
		`{"email":["fuzz@example.com"]}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		acctFuzzSend(t, g, http.MethodPost, "/api/v1/auth/forgot-password", body)
	})
}

// FuzzDecodeDeactivate posts to both deactivate routes (auth and users); an input that does
// deactivate the account gets the next inputs a fresh one.
func FuzzDecodeDeactivate(f *testing.F) {
	g := acctFuzzGateway(f)
	u := acctSignUp(f, g, "fuzz@example.com")
	accounts := 0
	acctAddSeeds(f,
		`{"password":"wrong"}`,
		`{"password":""}`,
		`{"password":null}`,
		`{"password":12345678}`,
		`{"password":"`+strings.Repeat("p", 1025)+`"}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		path := "/api/v1/auth/deactivate"
		if len(body)%2 == 1 {
			path = "/api/v1/users/deactivate"
		}
		acctFuzzSend(t, g, http.MethodPost, path, body, acctAuth(acctMintToken(t, g, u.ID))...)
		if acctCount(t, g.DB, `SELECT count(*) FROM users WHERE id = $1 AND is_active`, u.ID) == 0 {
			accounts++
			u = acctSignUp(t, g, fmt.Sprintf("fuzz-%d@example.com", accounts))
		}
	})
}
