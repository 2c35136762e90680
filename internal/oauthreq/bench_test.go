package oauthreq

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// rewindBody is a request body that can be reset without allocating, so
// that the benchmarks measure Parse alone.
type rewindBody struct{ strings.Reader }

func (*rewindBody) Close() error { return nil }

func BenchmarkParse(b *testing.B) {
	const key = "ds_live_W7p6DXeF6zzybyBN_QndPPUfeJasCVErVXTSXn9vX64DdzlToS0pg1viFeGk0QUWIZ"
	for _, c := range []struct {
		name, ct, body, auth string
	}{
		// Seed 003 with HTTP Basic: a typical client_credentials request.
		{"basic_form", formCT, "grant_type=client_credentials&scope=target-entity%3A8ed17dce-9eca-4383-a9e1-54f82c362b6d%3Aemployees-read",
			basic("W7p6DXeF6zzybyBN", "QndPPUfeJasCVErVXTSXn9vX64DdzlToS0pg1viFeGk0QUWIZ")},
		// Seed 000: a Bearer key and no body.
		{"bearer_key_empty", "", "", "Bearer " + key},
		// Seed 002: client_id and client_secret in JSON.
		{"post_json", jsonCT, `{"client_id":"W7p6DXeF6zzybyBN","client_secret":"QndPPUfeJasCVErVXTSXn9vX64DdzlToS0pg1viFeGk0QUWIZ","grant_type":"client_credentials","scope":"users:read users:write"}`, ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
			if c.ct != "" {
				r.Header.Set("Content-Type", c.ct)
			}
			if c.auth != "" {
				r.Header.Set("Authorization", c.auth)
			}
			body := new(rewindBody)
			b.ReportAllocs()
			for b.Loop() {
				if c.body != "" {
					body.Reset(c.body)
					r.Body, r.ContentLength = body, int64(len(c.body))
				}
				if _, err := Parse(nil, r, allOn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseHostileJSON parses some of the hostile bodies of
// TestFinding1_QuadraticJSONAllocation: the finding's, and the costliest
// that Parse reads to the end.
func BenchmarkParseHostileJSON(b *testing.B) {
	shapes := map[string]bool{
		"escaped strings in an unknown array":      true, // the finding's body
		"long escaped strings in an unknown array": true,
		"long escaped unknown names":               true,
		"long escaped known string":                true,
		"deep nesting within the value limit":      true,
		"many literals":                            true,
	}
	for _, c := range hostileBodies(hostileSize) {
		if !shapes[c.name] {
			continue
		}
		b.Run(strings.ReplaceAll(c.name, " ", "_"), func(b *testing.B) {
			r := hostileRequest(c.ct, "", false)
			body := new(rewindBody)
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				body.Reset(c.body)
				r.Body, r.ContentLength = body, int64(len(c.body))
				// Whether it is accepted, TestFinding1_QuadraticJSONAllocation
				// checks.
				Parse(nil, r, hostileOptions)
			}
		})
	}
}
