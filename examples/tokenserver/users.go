package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/keyturn/keyturn"
	"github.com/keyturn/keyturn/keys"
	"github.com/keyturn/keyturn/scope"
)

// userFlag collects the repeatable -user NAME:PASSWORD:SCOPE... flag.
type userFlag []string

func (u *userFlag) String() string { return fmt.Sprintf("%d users", len(*u)) }

func (u *userFlag) Set(v string) error {
	*u = append(*u, v)
	return nil
}

type user struct {
	hash  string // argon2id, PHC string
	scope scope.Set
}

// users is the example's own user table for the password flow:
// the way a host plugs its users into keyturn, through
// keyturn.UserAuthenticator. Passwords are kept only as argon2id hashes.
type users struct {
	byName map[string]user
	hasher *keys.PasswordHasher
}

// newUsers parses -user values: split at the first two colons, the rest a
// space-delimited scope string.
func newUsers(specs []string, hasher *keys.PasswordHasher) (*users, error) {
	u := &users{byName: make(map[string]user), hasher: hasher}
	for i, spec := range specs {
		name, rest, ok1 := strings.Cut(spec, ":")
		password, scopes, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || name == "" || password == "" {
			return nil, fmt.Errorf("-user #%d: want NAME:PASSWORD:SCOPE SCOPE", i+1)
		}
		set, err := scope.Parse(scopes)
		if err != nil {
			return nil, fmt.Errorf("-user %s: %w", name, err)
		}
		if _, dup := u.byName[name]; dup {
			return nil, fmt.Errorf("-user %s: given twice", name)
		}
		hash, err := hasher.Hash(password)
		if err != nil {
			return nil, fmt.Errorf("-user %s: %w", name, err)
		}
		u.byName[name] = user{hash: hash, scope: set}
	}
	return u, nil
}

// known reports whether name is a user's.
func (u *users) known(name string) bool {
	_, ok := u.byName[name]
	return ok
}

// AuthenticateUser implements keyturn.UserAuthenticator. An unknown user costs
// the same argon2id work as a wrong password, and both give the same error.
func (u *users) AuthenticateUser(ctx context.Context, name, password string) (keyturn.User, error) {
	rec, known := u.byName[name]
	if !known {
		u.hasher.DummyCheck(password)
		return keyturn.User{}, keyturn.ErrInvalidGrant
	}
	ok, err := keys.CheckPassword(rec.hash, password)
	if err != nil {
		return keyturn.User{}, fmt.Errorf("checking the password of a user: %w", err)
	}
	if !ok {
		return keyturn.User{}, keyturn.ErrInvalidGrant
	}
	return keyturn.User{Subject: name, Scope: rec.scope}, nil
}

// scope returns what the user may do now: the ceiling of the keys the user
// created (keyturn.Config.UserScope). An unknown user has the empty set.
func (u *users) scope(_ context.Context, name string) (scope.Set, error) {
	return u.byName[name].scope, nil
}
