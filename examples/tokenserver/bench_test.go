package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/keys"
)

// BenchmarkExchangeOps measures a client_credentials exchange (HTTP Basic,
// form body, EdDSA JWT) in-process through the routes, with the operations
// side off (no instrumentation, no metrics, logs discarded unformatted) and
// on (the instrumentation, metrics and JSON log lines, written to
// io.Discard), in one run:
//
//	go test -run '^$' -bench ExchangeOps -benchmem ./examples/tokenserver
func BenchmarkExchangeOps(b *testing.B) {
	for _, bc := range []struct {
		name string
		on   bool
	}{{"off", false}, {"on", true}} {
		b.Run(bc.name, func(b *testing.B) {
			log, m := slog.New(slog.DiscardHandler), (*metrics)(nil)
			if bc.on {
				log, m = slog.New(slog.NewJSONHandler(io.Discard, nil)), newMetrics()
			}
			var out bytes.Buffer
			s, err := newServer(context.Background(), testConfig(), memStore(), log, m)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.bootstrap(context.Background(), &out); err != nil {
				b.Fatal(err)
			}
			k, err := keys.Parse(keyPrefix, bootstrapLine.FindStringSubmatch(out.String())[1])
			if err != nil {
				b.Fatal(err)
			}
			var h http.Handler = s.mux(false)
			if bc.on {
				h = s.routes(true)
			}
			basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(k.ID()+":"+k.ClientSecret()))
			const body = "grant_type=client_credentials&scope=read:users"
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(body))
				r.Header.Set("Authorization", basic)
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
