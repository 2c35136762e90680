package keyturn

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The packages' dependencies point down only: the root imports the
// others; middleware imports token and scope; token and keys import only
// scope, storage and internal helpers; nothing imports the root but the
// examples; and a host that imports middleware downloads no database
// driver, argon2, keys or the request parser.
func TestDependenciesPointDown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const mod = "github.com/keyturn/keyturn"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	own := func(imports []string) []string {
		var mine []string
		for _, p := range imports {
			if p == mod || strings.HasPrefix(p, mod+"/") {
				mine = append(mine, strings.TrimPrefix(strings.TrimPrefix(p, mod), "/"))
			}
		}
		return mine
	}
	allowed := map[string][]string{
		"scope":             {},
		"storage":           {},
		"keys":              {"scope", "storage"},
		"token":             {"scope", "storage", "internal/jsonenc", "internal/jsonscan"},
		"middleware":        {"scope", "token", "token/dpop"},
		"token/dpop":        {"internal/jsonscan"},
		"internal/jsonscan": {},
		// The admin page: the standard library and its embedded files.
		"internal/adminui": {},
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], mod), "/")
		imports := own(fields[1:])
		if slices.Contains(imports, "") && !strings.HasPrefix(pkg, "examples/") {
			t.Errorf("%s imports the root package", fields[0])
		}
		if want, ok := allowed[pkg]; ok {
			for _, p := range imports {
				if !slices.Contains(want, p) {
					t.Errorf("%s imports %s; it may import only %v", pkg, p, want)
				}
			}
		}
	}
	// Only tests, examples and storage/sqlstore/pgnotify may use a
	// PostgreSQL driver: the library and the SQL store stay on database/sql.
	for _, pkg := range []string{mod, mod + "/storage/sqlstore"} {
		deps, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps: %v", err)
		}
		for _, d := range strings.Fields(string(deps)) {
			if strings.HasPrefix(d, "github.com/jackc/") {
				t.Errorf("%s depends on %s", pkg, d)
				break
			}
		}
	}
	deps, err := exec.Command("go", "list", "-deps", mod+"/middleware").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, banned := range []string{"golang.org/x/crypto/argon2", mod + "/keys", mod + "/internal/oauthreq",
		mod + "/internal/ratelimit", "database/sql", "net/http/httptest"} {
		if slices.Contains(strings.Fields(string(deps)), banned) {
			t.Errorf("middleware depends on %s", banned)
		}
	}
}
