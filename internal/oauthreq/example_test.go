package oauthreq_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/keyturn/keyturn/internal/oauthreq"
)

func ExampleParse() {
	// Seed 003: client_credentials with HTTP Basic and a form body.
	r := httptest.NewRequest(http.MethodPost, "/v1/oauth2/token",
		strings.NewReader("grant_type=client_credentials&scope=target-entity%3AE1%3Aemployees-read"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("W7p6DXeF6zzybyBN", "QndPPUfeJasCVErVXTSXn9vX64DdzlToS0pg1viFeGk0QUWIZ")

	opts := oauthreq.Options{AllowBasic: true, AllowPost: true}
	req, err := oauthreq.Parse(nil, r, opts)
	if err != nil {
		panic(err)
	}
	fmt.Println(req.GrantType, req.Scope)
	fmt.Println(req.Source, req.ClientID)
	fmt.Println(req) // secrets never print
	// Output:
	// client_credentials target-entity:E1:employees-read
	// basic W7p6DXeF6zzybyBN
	// oauthreq.Request{GrantType:"client_credentials", Scope:"target-entity:E1:employees-read", Source:basic, ClientID:"W7p6DXeF6zzybyBN", ClientSecret:"[REDACTED]"}
}

func ExampleParse_bearerKey() {
	// Seed 000: the API key as a Bearer credential, no body, no grant_type.
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
	r.Header.Set("Authorization", "Bearer ds_live_W7p6DXeF6zzybyBN_QndPPUfeJasCVErVXTSXn9vX64DdzlToS0pg1viFeGk0QUWIZ")

	req, err := oauthreq.Parse(nil, r, oauthreq.Options{AllowJSON: true, AllowBearerKey: true, AllowBodyKey: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(req.Source, req.GrantType == "", len(req.Key), req.Challenge())
	// Output:
	// bearer_key true 74 Bearer
}

func ExampleWriteError() {
	// Two client authentication methods in one request (TOK-25).
	r := httptest.NewRequest(http.MethodPost, "/oauth/token",
		strings.NewReader("grant_type=client_credentials&client_id=a&client_secret=b"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("a", "b")

	w := httptest.NewRecorder()
	_, err := oauthreq.Parse(w, r, oauthreq.Options{AllowBasic: true, AllowPost: true})
	if e, ok := errors.AsType[*oauthreq.Error](err); ok {
		oauthreq.WriteError(w, e, "example")
	}
	fmt.Println(w.Code, w.Header().Get("Cache-Control"), w.Header().Get("Pragma"))
	fmt.Print(w.Body)

	// A failed Basic authentication (the caller's check) is a 401 with a
	// challenge in the scheme the client used.
	w = httptest.NewRecorder()
	oauthreq.WriteError(w, &oauthreq.Error{Status: http.StatusUnauthorized, Code: oauthreq.InvalidClient,
		Description: "client authentication failed", Challenge: "Basic"}, "example")
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	fmt.Print(w.Body)
	// Output:
	// 400 no-store no-cache
	// {"error":"invalid_request","error_description":"the request uses more than one client authentication method"}
	// 401 Basic realm="example", charset="UTF-8"
	// {"error":"invalid_client","error_description":"client authentication failed"}
}
