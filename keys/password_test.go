package keys_test

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/keys"
)

// cheap are argon2id parameters small enough for tests.
var cheap = keys.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestDefaultPasswordParamsAreRFC9106(t *testing.T) {
	want := keys.PasswordParams{Memory: 65536, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}
	if got := keys.DefaultPasswordParams(); got != want {
		t.Fatalf("DefaultPasswordParams() = %+v, want %+v", got, want)
	}
}

// TestHashPasswordDefault runs the real cost once: the package-level
// functions use RFC 9106's parameters and agree with each other.
func TestHashPasswordDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2id at 64 MiB")
	}
	enc, err := keys.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Fatalf("encoded hash has the wrong parameters: %s", enc)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct horse", true}, {"correct horse ", false}, {"Correct horse", false}} {
		ok, err := keys.CheckPassword(enc, tc.pw)
		if err != nil || ok != tc.want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
}

func TestPasswordHasher(t *testing.T) {
	h := &keys.PasswordHasher{Params: cheap, Rand: newStream("salt")}
	enc, err := h.Hash("hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("encoded = %s", enc)
	}
	if strings.Contains(enc, "hunter2") {
		t.Fatal("encoded hash contains the password")
	}
	enc2, err := (&keys.PasswordHasher{Params: cheap}).Hash("hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if enc == enc2 {
		t.Fatal("two hashes of one password share a salt")
	}
	for _, tc := range []struct {
		name, enc, pw string
		want          bool
	}{
		{"right", enc, "hunter2", true},
		{"right, other salt", enc2, "hunter2", true},
		{"wrong", enc, "hunter3", false},
		{"prefix of it", enc, "hunter", false},
		{"empty", enc, "", false},
		{"over-long", enc, strings.Repeat("x", keys.MaxPasswordLen+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := keys.CheckPassword(tc.enc, tc.pw)
			if err != nil || ok != tc.want {
				t.Fatalf("CheckPassword = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
}

func TestHashPasswordRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params keys.PasswordParams
		pw     string
	}{
		{"empty password", cheap, ""},
		{"over-long password", cheap, strings.Repeat("x", keys.MaxPasswordLen+1)},
		{"zero threads", keys.PasswordParams{Memory: 64, Time: 1, SaltLen: 16, KeyLen: 32}, "pw"},
		{"memory below 8 per lane", keys.PasswordParams{Memory: 15, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, "pw"},
		{"memory too large", keys.PasswordParams{Memory: keys.MaxPasswordMemory + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, "pw"},
		{"zero time", keys.PasswordParams{Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}, "pw"},
		{"short salt", keys.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}, "pw"},
		{"short tag", keys.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8}, "pw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := (&keys.PasswordHasher{Params: tc.params}).Hash(tc.pw)
			if err == nil {
				t.Fatalf("Hash succeeded: %s", enc)
			}
			if !strings.HasPrefix(err.Error(), "keyturn/keys: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestCheckPasswordKnownAnswer checks the PHC fields are read the right way
// round with an argon2id test vector from the reference implementation
// (password "password", salt "somesalt", t=2, m=64 KiB, p=1).
func TestCheckPasswordKnownAnswer(t *testing.T) {
	tag, _ := hex.DecodeString("068d62b26455936aa6ebe60060b0a65870dbfa3ddf8d41f7")
	b64 := base64.RawStdEncoding
	enc := "$argon2id$v=19$m=64,t=2,p=1$" + b64.EncodeToString([]byte("somesalt")) + "$" + b64.EncodeToString(tag)
	ok, err := keys.CheckPassword(enc, "password")
	if err != nil || !ok {
		t.Fatalf("CheckPassword(test vector) = %v, %v", ok, err)
	}
	swapped := "$argon2id$v=19$m=2,t=64,p=1$" + enc[len("$argon2id$v=19$m=64,t=2,p=1$"):]
	if ok, _ := keys.CheckPassword(swapped, "password"); ok {
		t.Fatal("swapped m and t still verified")
	}
}

func TestCheckPasswordRejectsMalformed(t *testing.T) {
	h := &keys.PasswordHasher{Params: cheap, Rand: newStream("malformed")}
	good, err := h.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	saltTag := good[strings.LastIndex(good, "$")-22:] // "<salt>$<tag>"
	for _, tc := range []struct{ name, enc string }{
		{"empty", ""},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"argon2d", strings.Replace(good, "argon2id", "argon2d", 1)},
		{"version 16", strings.Replace(good, "v=19", "v=16", 1)},
		{"no version", strings.Replace(good, "$v=19", "", 1)},
		{"leading zero", strings.Replace(good, "m=64", "m=064", 1)},
		{"plus sign", strings.Replace(good, "t=1", "t=+1", 1)},
		{"negative", strings.Replace(good, "t=1", "t=-1", 1)},
		{"fields reordered", "$argon2id$v=19$t=1,m=64,p=1$" + saltTag},
		{"extra field", "$argon2id$v=19$m=64,t=1,p=1,keyid=x$" + saltTag},
		{"spaces", "$argon2id$v=19$m=64, t=1, p=1$" + saltTag},
		{"absurd memory", "$argon2id$v=19$m=4294967295,t=1,p=1$" + saltTag},
		{"memory over bound", "$argon2id$v=19$m=2097153,t=1,p=1$" + saltTag},
		{"memory overflow", "$argon2id$v=19$m=99999999999,t=1,p=1$" + saltTag},
		{"absurd time", "$argon2id$v=19$m=64,t=1000000,p=1$" + saltTag},
		{"time over bound", "$argon2id$v=19$m=64,t=17,p=1$" + saltTag},
		{"zero time", "$argon2id$v=19$m=64,t=0,p=1$" + saltTag},
		{"absurd threads", "$argon2id$v=19$m=4096,t=1,p=255$" + saltTag},
		{"threads over uint8", "$argon2id$v=19$m=4096,t=1,p=257$" + saltTag},
		{"zero threads", "$argon2id$v=19$m=64,t=1,p=0$" + saltTag},
		{"memory below 8 per lane", "$argon2id$v=19$m=31,t=1,p=4$" + saltTag},
		{"padded base64", strings.Replace(good, "$"+saltTag, "$"+strings.Replace(saltTag, "$", "==$", 1), 1)},
		{"URL base64", "$argon2id$v=19$m=64,t=1,p=1$____________________$" + strings.Repeat("-", 43)},
		{"short salt", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + saltTag[23:]},
		{"short tag", "$argon2id$v=19$m=64,t=1,p=1$" + saltTag[:22] + "$dGFnMTIzNDU2Nzg"},
		{"missing tag", "$argon2id$v=19$m=64,t=1,p=1$" + saltTag[:22]},
		{"extra section", good + "$abc"},
		{"trailing newline", good + "\n"},
		{"too long", good + strings.Repeat("A", 300)},
		{"non-canonical trailing bits", good[:len(good)-1] + nonCanonical(good[len(good)-1])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := keys.CheckPassword(tc.enc, "pw")
			if ok || !errors.Is(err, keys.ErrPasswordHash) {
				t.Fatalf("CheckPassword = %v, %v; want ErrPasswordHash", ok, err)
			}
			if tc.enc != "" && strings.Contains(err.Error(), saltTag[:12]) {
				t.Errorf("error echoes the hash: %v", err)
			}
		})
	}
	if ok, err := keys.CheckPassword(good, "pw"); !ok || err != nil {
		t.Fatalf("the unaltered hash fails: %v, %v", ok, err)
	}
}

// nonCanonical returns a base64 character other than last whose value is
// not a multiple of 4, so that it sets the unused low bits of a 32-byte tag.
func nonCanonical(last byte) string {
	if last == 'B' {
		return "C"
	}
	return "B"
}
