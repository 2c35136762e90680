package main

// Operations: health and readiness checks, Prometheus metrics fed from
// keyturn's event hook and from the HTTP layer, and one log line per request
// that was refused or failed. keyturn itself imports no metrics library: a
// host hangs its own on keyturn.Config.Events, as here.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyturn/keyturn"
	"github.com/keyturn/keyturn/keys"
)

func healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the store answers within readyTimeout, else 503.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.st.ping(ctx); err != nil {
		s.log.Warn("not ready: the store does not answer", "path", r.URL.Path, "status", http.StatusServiceUnavailable,
			"remote_addr", r.RemoteAddr, "reason", err.Error())
		markLogged(r.Context())
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// metrics are the server's Prometheus metrics, in a registry of their own
// (never the global one). No label holds a key id, user, token or secret:
// every label takes one of a few fixed values.
type metrics struct {
	reg         *prometheus.Registry
	issued      *prometheus.CounterVec   // grant, auth_method
	requests    *prometheus.CounterVec   // endpoint, code
	failures    *prometheus.CounterVec   // reason
	duration    *prometheus.HistogramVec // endpoint
	revocations *prometheus.CounterVec   // kind

	// The children the hot path uses, looked up once: WithLabelValues
	// hashes its labels on every call.
	durations map[string]prometheus.Observer // by endpoint
	children  sync.Map                       // requestLabels or issuedLabels → prometheus.Counter
}

type requestLabels struct {
	endpoint string
	code     int
}

type issuedLabels struct {
	grant  string
	method keyturn.AuthMethod
}

// requestCounter returns the child of requests for the labels.
func (m *metrics) requestCounter(endpoint string, code int) prometheus.Counter {
	l := requestLabels{endpoint, code}
	if c, ok := m.children.Load(l); ok {
		return c.(prometheus.Counter)
	}
	c, _ := m.children.LoadOrStore(l, m.requests.WithLabelValues(endpoint, strconv.Itoa(code)))
	return c.(prometheus.Counter)
}

// issuedCounter returns the child of issued for a grant and method.
func (m *metrics) issuedCounter(grant string, method keyturn.AuthMethod) prometheus.Counter {
	l := issuedLabels{grant, method}
	if c, ok := m.children.Load(l); ok {
		return c.(prometheus.Counter)
	}
	name := method.String()
	if method == 0 {
		name = "none"
	}
	c, _ := m.children.LoadOrStore(l, m.issued.WithLabelValues(grant, name))
	return c.(prometheus.Counter)
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyturn_tokens_issued_total",
			Help: "Access tokens issued, by grant type and client authentication method.",
		}, []string{"grant", "auth_method"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyturn_token_requests_total",
			Help: "Requests to the token, introspection and revocation endpoints, by endpoint path and HTTP status.",
		}, []string{"endpoint", "code"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyturn_auth_failures_total",
			Help: "Failed client and user authentications, by reason.",
		}, []string{"reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keyturn_token_request_duration_seconds",
			Help:    "Time to answer requests to the token, introspection and revocation endpoints.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"endpoint"}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyturn_revocations_total",
			Help: `Revocations: kind "token" through the revocation endpoint, kind "key" through the key admin API.`,
		}, []string{"kind"}),
	}
	m.reg.MustRegister(m.issued, m.requests, m.failures, m.duration, m.revocations,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Every reason and kind is exported from the start, at zero, so that a
	// rate over them is defined before the first failure.
	for _, r := range failureReasons {
		m.failures.WithLabelValues(r)
	}
	m.revocations.WithLabelValues("token")
	m.revocations.WithLabelValues("key")
	m.durations = make(map[string]prometheus.Observer, len(tokenEndpoints))
	for e := range tokenEndpoints {
		m.durations[e] = m.duration.WithLabelValues(e)
	}
	return m
}

// tokenEndpoints are the paths keyturn_token_requests_total counts, the
// only values of its endpoint label.
var tokenEndpoints = map[string]bool{
	"/oauth/token": true, "/v1/oauth2/token": true, "/authorization": true,
	"/oauth/introspect": true, "/oauth/revoke": true,
}

// failureReasons are the values of keyturn_auth_failures_total's label.
var failureReasons = []string{"no_credentials", "malformed", "invalid_credentials", "revoked", "expired",
	"invalid_client", "invalid_grant", "rate_limited", "other"}

// failureReason maps why an authentication failed to a fixed reason.
func failureReason(ev keyturn.Event) string {
	err := ev.Err
	switch {
	case errors.Is(err, keyturn.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, keyturn.ErrInvalidGrant):
		return "invalid_grant"
	case errors.Is(err, keys.ErrRevoked):
		return "revoked"
	case errors.Is(err, keys.ErrExpired):
		return "expired"
	case errors.Is(err, keys.ErrMalformed), errors.Is(err, keys.ErrChecksum):
		return "malformed"
	case errors.Is(err, keys.ErrInvalidKey):
		return "invalid_credentials"
	case errors.Is(err, keyturn.ErrInvalidClient) && ev.Method == 0:
		return "no_credentials"
	case errors.Is(err, keyturn.ErrInvalidClient):
		return "invalid_client"
	}
	return "other"
}

// observe counts an event of keyturn's endpoint.
func (m *metrics) observe(ev keyturn.Event) {
	switch ev.Kind {
	case keyturn.TokenIssued:
		grant := "client_credentials"
		if ev.Method == 0 {
			grant = "password"
		}
		m.issuedCounter(grant, ev.Method).Inc()
	case keyturn.AuthFailed:
		m.failures.WithLabelValues(failureReason(ev)).Inc()
	case keyturn.TokenRevoked:
		m.revocations.WithLabelValues("token").Inc()
	}
}

// metricsHandler serves the registry in the Prometheus text format.
func (s *server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError)})
}

// events is keyturn's Config.Events: it counts the event, notes that a
// failed authentication has its log line, and hands the event to next,
// which logs it.
func (s *server) events(next func(context.Context, keyturn.Event)) func(context.Context, keyturn.Event) {
	return func(ctx context.Context, ev keyturn.Event) {
		if s.metrics != nil {
			s.metrics.observe(ev)
		}
		if ev.Kind == keyturn.AuthFailed {
			markLogged(ctx)
		}
		next(ctx, ev)
	}
}

// requestState travels in a request's context so that the instrumentation
// logs a refused or failed request only when nothing else has.
type requestState struct{ logged bool }

type requestStateKey struct{}

// markLogged notes that the request of ctx has its log line.
func markLogged(ctx context.Context) {
	if st, ok := ctx.Value(requestStateKey{}).(*requestState); ok {
		st.logged = true
	}
}

// instrument wraps the server's routes: it counts and times the requests to
// the token endpoints, counts key revocations, and logs one line for every
// request answered 4xx or 5xx that keyturn did not log already (a refusal
// at the token endpoint such as invalid_scope, an admin API error, an
// unknown path). The line names the error code of the body, never a
// credential.
func (s *server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := new(requestState)
		r = r.WithContext(context.WithValue(r.Context(), requestStateKey{}, st))
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)

		path := r.URL.Path
		if s.metrics != nil {
			if d, ok := s.metrics.durations[path]; ok {
				s.metrics.requestCounter(path, rec.status).Inc()
				d.Observe(time.Since(start).Seconds())
			}
			if r.Method == http.MethodDelete && rec.status == http.StatusNoContent && strings.HasPrefix(path, "/v1/api_keys/") {
				s.metrics.revocations.WithLabelValues("key").Inc()
			}
		}
		if rec.status < 400 || st.logged {
			return
		}
		level := slog.LevelWarn
		switch {
		case rec.status >= 500:
			level = slog.LevelError
		case rec.status == http.StatusNotFound || rec.status == http.StatusMethodNotAllowed:
			level = slog.LevelInfo
		}
		attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", clip(path, 128)),
			slog.Int("status", rec.status), slog.String("remote_addr", r.RemoteAddr)}
		if code := rec.errorCode(); code != "" {
			attrs = append(attrs, slog.String("error", code))
		}
		s.log.LogAttrs(r.Context(), level, "request failed", attrs...)
	})
}

// clip cuts s to at most n bytes.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// recorder notes the status of a response and the start of an error body.
type recorder struct {
	http.ResponseWriter
	status  int
	written bool
	body    []byte // the first bytes of a 4xx or 5xx body
}

const maxRecorded = 256

func (r *recorder) WriteHeader(status int) {
	if !r.written {
		r.status, r.written = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.written = true
	if r.status >= 400 && len(r.body) < maxRecorded {
		r.body = append(r.body, b[:min(len(b), maxRecorded-len(r.body))]...)
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// errorCode returns the "error" member of a recorded JSON error body, when
// it is a plain code (the RFC 6749 and RFC 6750 codes are).
func (r *recorder) errorCode() string {
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(bytes.TrimSpace(r.body), &body) != nil || len(body.Error) > 40 {
		return ""
	}
	for _, c := range body.Error {
		if !('a' <= c && c <= 'z' || c == '_') {
			return ""
		}
	}
	return body.Error
}
