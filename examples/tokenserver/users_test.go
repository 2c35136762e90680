package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keyturn/keyturn"
	"github.com/keyturn/keyturn/keys"
)

// cheap keeps argon2id fast in tests; the server uses the defaults.
var cheap = &keys.PasswordHasher{Params: keys.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}

func TestUsersParse(t *testing.T) {
	tests := []struct {
		name     string
		spec     string
		user     string // who then authenticates...
		password string // ...with this password
		scope    string // and is granted this canonical scope
	}{
		{"two scopes", "ada:pw:read:users read:participants", "ada", "pw", "read:participants read:users"},
		{"compound scope keeps its colons", "bob:pw:target-entity:E1:b,a", "bob", "pw", "target-entity:E1:a,b"},
		{"no scope", "carol:pw:", "carol", "pw", ""},
		{"password with spaces", "dave:correct horse:read:users", "dave", "correct horse", "read:users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := newUsers([]string{tt.spec}, cheap)
			if err != nil {
				t.Fatal(err)
			}
			got, err := u.AuthenticateUser(context.Background(), tt.user, tt.password)
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != tt.user || got.Scope.String() != tt.scope {
				t.Errorf("got %q with scope %q, want %q with %q", got.Subject, got.Scope, tt.user, tt.scope)
			}
		})
	}
}

func TestUsersParseErrors(t *testing.T) {
	const password = "hunter2-secret"
	tests := []struct {
		name  string
		specs []string
	}{
		{"one colon", []string{"ada:" + password}},
		{"no colon", []string{"ada"}},
		{"empty name", []string{":" + password + ":read:users"}},
		{"empty password", []string{"ada::read:users"}},
		{"malformed scope", []string{"ada:" + password + ":read:users  read:participants"}},
		{"scope with a quote", []string{"ada:" + password + `:read"users`}},
		{"user given twice", []string{"ada:" + password + ":read:users", "ada:other:read:users"}},
		{"password too long", []string{"ada:" + strings.Repeat("p", keys.MaxPasswordLen+1) + ":read:users"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newUsers(tt.specs, cheap)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "ppppp") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func TestUsersAuthenticate(t *testing.T) {
	u, err := newUsers([]string{"ada:pw:read:users", "bob:pw2:read:participants"}, cheap)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, password string
		ok                   bool
	}{
		{"right password", "ada", "pw", true},
		{"another user's password", "ada", "pw2", false},
		{"wrong password", "ada", "PW", false},
		{"empty password", "ada", "", false},
		{"unknown user", "eve", "pw", false},
		{"empty user", "", "pw", false},
		{"over-long password", "ada", strings.Repeat("p", keys.MaxPasswordLen+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := u.AuthenticateUser(context.Background(), tt.user, tt.password)
			switch {
			case tt.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.ok && got.Subject != tt.user:
				t.Errorf("subject %q", got.Subject)
			case !tt.ok && !errors.Is(err, keyturn.ErrInvalidGrant):
				// An unknown user and a wrong password are the same error.
				t.Errorf("got %v, %v; want ErrInvalidGrant", got, err)
			}
		})
	}
}
