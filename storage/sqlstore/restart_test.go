package sqlstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keyturn/keyturn/storage"
)

// t0 is the tests' reference instant, at microsecond precision.
var t0 = time.Date(2025, time.June, 1, 12, 30, 45, 123456000, time.UTC)

// records is one of every kind of record, with every field set, and some
// times in a non-UTC location.
type records struct {
	keys        []storage.Key
	signingKeys []storage.SigningKey
	revocations []storage.Revocation
	opaque      []storage.OpaqueToken
}

func sampleRecords() records {
	paris := time.FixedZone("UTC+2", 2*3600)
	return records{
		keys: []storage.Key{
			{
				ID: "k1", Name: "deploy bot", Owner: "alice", Scope: []string{"read:users", "target-entity:e1:read,write"},
				SecretHash: []byte{0, 1, 2, 0xff}, TokenLifetime: 15 * time.Minute,
				CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour).In(paris), RevokedAt: t0.Add(time.Hour),
			},
			{
				ID: "k2", Name: "", Owner: "bob", Scope: []string{"introspect"},
				SecretHash: []byte("0123456789abcdef0123456789abcdef"), TokenLifetime: 7200 * time.Second,
				CreatedAt: t0.Add(time.Microsecond),
			},
		},
		signingKeys: []storage.SigningKey{
			{
				ID: "sk-old", Algorithm: "EdDSA", Private: []byte("sealed-private\x00bytes"), Public: []byte{0x30, 0x2a},
				CreatedAt: t0.Add(-48 * time.Hour), NotBefore: t0.Add(-48 * time.Hour),
				NotAfter: t0.Add(-time.Hour), ExpiresAt: t0.Add(time.Hour).In(paris),
			},
			{
				ID: "sk-new", Algorithm: "ES256", Private: []byte{1, 2, 3}, Public: []byte{4, 5, 6},
				CreatedAt: t0.Add(-time.Hour), NotBefore: t0,
			},
		},
		revocations: []storage.Revocation{
			{Kind: storage.RevokedToken, ID: "jti-1", RevokedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(time.Hour)},
			{Kind: storage.RevokedClient, ID: "k1", RevokedAt: t0.Add(time.Hour).In(paris)},
		},
		opaque: []storage.OpaqueToken{
			{Hash: []byte{0xde, 0xad, 0, 0xbe, 0xef}, ClientID: "k2", Claims: []byte(`{"sub":"k2"}`), ExpiresAt: t0.Add(15 * time.Minute)},
		},
	}
}

func (r records) write(t *testing.T, s interface {
	storage.KeyStore
	storage.SigningKeyStore
	storage.RevocationStore
	storage.OpaqueTokenStore
}) {
	t.Helper()
	ctx := t.Context()
	for _, k := range r.keys {
		revoked := k.RevokedAt
		k.RevokedAt = time.Time{}
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatalf("CreateKey(%s): %v", k.ID, err)
		}
		if !revoked.IsZero() {
			if err := s.RevokeKey(ctx, k.ID, revoked); err != nil {
				t.Fatalf("RevokeKey(%s): %v", k.ID, err)
			}
		}
	}
	for _, k := range r.signingKeys {
		if err := s.AddSigningKey(ctx, k); err != nil {
			t.Fatalf("AddSigningKey(%s): %v", k.ID, err)
		}
	}
	for _, rv := range r.revocations {
		if err := s.AddRevocation(ctx, rv); err != nil {
			t.Fatalf("AddRevocation(%s): %v", rv.ID, err)
		}
	}
	for _, o := range r.opaque {
		if err := s.AddOpaqueToken(ctx, o); err != nil {
			t.Fatalf("AddOpaqueToken: %v", err)
		}
	}
}

// TestRestart writes every kind of record through one *sql.DB, closes it,
// opens the same database again with a new handle and a new Store, and reads
// everything back.
func TestRestart(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			d := b.fresh(t)
			want := sampleRecords()

			db1 := d.open(t)
			s1 := newStore(t, db1, d.dialect)
			if err := s1.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			want.write(t, s1)
			if err := db1.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}

			// A new process: no Migrate needed, the schema is current.
			db2 := d.open(t)
			s2 := newStore(t, db2, d.dialect)
			ctx := t.Context()

			keys, err := s2.Keys(ctx, "", 0)
			if err != nil {
				t.Fatalf("Keys: %v", err)
			}
			for _, k := range want.keys {
				got, err := s2.Key(ctx, k.ID)
				if err != nil {
					t.Fatalf("Key(%s): %v", k.ID, err)
				}
				assertEqual(t, "Key("+k.ID+")", k, got)
			}
			assertEqual(t, "Keys", want.keys, keys)

			sk, err := s2.SigningKeys(ctx)
			if err != nil {
				t.Fatalf("SigningKeys: %v", err)
			}
			// SigningKeys orders by NotBefore: sk-old first.
			assertEqual(t, "SigningKeys", want.signingKeys, sk)

			since, err := s2.RevocationsSince(ctx, time.Time{}, 0)
			if err != nil {
				t.Fatalf("RevocationsSince: %v", err)
			}
			assertEqual(t, "RevocationsSince", want.revocations, since)

			for _, o := range want.opaque {
				got, err := s2.OpaqueToken(ctx, o.Hash)
				if err != nil {
					t.Fatalf("OpaqueToken: %v", err)
				}
				assertEqual(t, "OpaqueToken", o, got)
			}
		})
	}
}

// assertEqual compares records with time.Equal and checks that every time
// came back in UTC.
func assertEqual(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
	for _, tm := range times(got) {
		if !tm.IsZero() && tm.Location() != time.UTC {
			t.Errorf("%s: time %v not in UTC", what, tm)
		}
	}
}

// times returns every time field in a record or slice of records.
func times(v any) []time.Time {
	switch v := v.(type) {
	case storage.Key:
		return []time.Time{v.CreatedAt, v.ExpiresAt, v.RevokedAt}
	case storage.SigningKey:
		return []time.Time{v.CreatedAt, v.NotBefore, v.NotAfter, v.ExpiresAt}
	case storage.Revocation:
		return []time.Time{v.RevokedAt, v.ExpiresAt}
	case storage.OpaqueToken:
		return []time.Time{v.ExpiresAt}
	case []storage.Key:
		return flatTimes(v)
	case []storage.SigningKey:
		return flatTimes(v)
	case []storage.Revocation:
		return flatTimes(v)
	}
	panic(fmt.Sprintf("times: unexpected %T", v))
}

func flatTimes[T any](s []T) []time.Time {
	var out []time.Time
	for _, v := range s {
		out = append(out, times(v)...)
	}
	return out
}
