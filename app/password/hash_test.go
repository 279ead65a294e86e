package password

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"pytwask/app/redistest"
)

type vector struct{ Password, Hash string }

// readVectors reads a file of Werkzeug's own hashes, as
// testdata/werkzeug_vectors.py writes it.
func readVectors(t *testing.T, raw []byte) []vector {
	t.Helper()
	var file struct{ Vectors []vector }
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return file.Vectors
}

// TestWerkzeugVectors checks hashes that Werkzeug itself wrote: the ones
// pytwis stored (werkzeug-hashes.json, the shared fixture), old Werkzeug's
// other PBKDF2 digests and salted digests (werkzeug-old-hashes.json, made by
// werkzeug_vectors.py), and a fresh set from Werkzeug itself where Debian's
// python3-werkzeug is installed (in CI it must be).
func TestWerkzeugVectors(t *testing.T) {
	sets := map[string][]vector{}
	for _, name := range []string{"werkzeug-hashes.json", "werkzeug-old-hashes.json"} {
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		sets[name] = readVectors(t, raw)
	}
	if testing.Short() {
		t.Log("-short: no fresh vectors from Werkzeug")
	} else if out, err := exec.Command("/usr/bin/python3", "testdata/werkzeug_vectors.py").Output(); err == nil {
		sets["fresh from Werkzeug"] = readVectors(t, out)
	} else if redistest.Strict() {
		t.Fatalf("Werkzeug did not make vectors (apt-get install python3-werkzeug): %v", err)
	} else {
		t.Logf("no fresh vectors, Werkzeug is not installed (apt-get install python3-werkzeug): %v", err)
	}
	h := Hasher{Iterations: DefaultIterations}
	for set, vectors := range sets {
		for _, v := range vectors {
			method, _, _ := strings.Cut(v.Hash, "$")
			t.Run(set+"/"+method, func(t *testing.T) {
				ok, err := Verify(v.Hash, v.Password)
				if err != nil || !ok {
					t.Fatalf("Verify(right password) = %v, %v; want true", ok, err)
				}
				for _, wrong := range []string{"", v.Password + "x", strings.ToUpper(v.Password), v.Password[:len(v.Password)-1]} {
					if ok, _ := Verify(v.Hash, wrong); ok {
						t.Errorf("Verify(%q) = true; want false", wrong)
					}
				}
				if !strings.HasPrefix(method, "scrypt:") && !h.NeedsRehash(v.Hash) {
					t.Errorf("NeedsRehash = false; want an upgrade to pbkdf2:sha512:%d", h.Iterations)
				}
			})
		}
	}
}

func TestHashRoundTrip(t *testing.T) {
	h := Hasher{Iterations: 1000}
	stored, err := h.Hash("Pässw0rd!")
	if err != nil {
		t.Fatal(err)
	}
	method, rest, _ := strings.Cut(stored, "$")
	salt, digest, _ := strings.Cut(rest, "$")
	if method != "pbkdf2:sha512:1000" || len(salt) != 16 || len(digest) != 128 {
		t.Fatalf("hash %q is not in Werkzeug's pbkdf2:sha512 form", stored)
	}
	if ok, err := Verify(stored, "Pässw0rd!"); !ok || err != nil {
		t.Fatalf("Verify(own hash) = %v, %v", ok, err)
	}
	if ok, _ := Verify(stored, "Passw0rd!"); ok {
		t.Fatal("own hash verified a different password")
	}
	again, _ := h.Hash("Pässw0rd!")
	if again == stored {
		t.Fatal("two hashes of one password share a salt")
	}
}

func TestNeedsRehash(t *testing.T) {
	h := Hasher{Iterations: 600_000}
	cases := []struct {
		stored string
		want   bool
	}{
		{"pbkdf2:sha512:50000$abcdefgh$00", true},
		{"pbkdf2:sha512:260000$abcdefgh$00", true},
		{"pbkdf2:sha256:600000$abcdefgh$00", true},
		{"pbkdf2:sha512:600000$abcdefgh$00", false},
		{"pbkdf2:sha512:1000000$abcdefgh$00", false},
		{"scrypt:32768:8:1$abcdefgh$00", false},
		{"scrypt:16384:8:1$abcdefgh$00", true},
		{"md5$abc$00", true},
		{"sha512$abc$00", true},
		{"pbkdf2:sha1:1000$abc$00", true},
	}
	for _, c := range cases {
		if got := h.NeedsRehash(c.stored); got != c.want {
			t.Errorf("NeedsRehash(%q) = %v; want %v", c.stored, got, c.want)
		}
	}
}

func TestPadding(t *testing.T) {
	h := Hasher{Iterations: 600_000}
	cases := []struct{ stored, want string }{
		{"pbkdf2:sha512:50000$abcdefgh$00", "pbkdf2:sha512:550000$"},
		{"pbkdf2:sha512:599999$abcdefgh$00", "pbkdf2:sha512:1$"},
		{"pbkdf2:sha512:600000$abcdefgh$00", ""},
		{"pbkdf2:sha512:900000$abcdefgh$00", ""},
		{"pbkdf2:sha256:600000$abcdefgh$00", "pbkdf2:sha512:600000$"},
		{"pbkdf2:sha1:1000$abcdefgh$00", "pbkdf2:sha512:600000$"},
		{"md5$abcdefgh$00", "pbkdf2:sha512:600000$"},
		{"scrypt:16384:8:1$abcdefgh$00", "pbkdf2:sha512:600000$"},
		{"scrypt:32768:8:1$abcdefgh$00", ""},
		{"garbage", "pbkdf2:sha512:600000$"},
	}
	for _, c := range cases {
		pad := h.Padding(c.stored)
		if !strings.HasPrefix(pad, c.want) || (c.want == "") != (pad == "") {
			t.Errorf("Padding(%q) = %.30q; want %q...", c.stored, pad, c.want)
		}
		if pad == "" {
			continue
		}
		if ok, err := Verify(pad, "Passw0rd!"); ok || err != nil {
			t.Errorf("Verify(Padding(%q)) = %v, %v; want false and no error", c.stored, ok, err)
		}
	}
}

func TestVerifyRejectsMalformed(t *testing.T) {
	for _, stored := range []string{
		"", "plain", "plain$$secret", "pbkdf2:sha512$salt$00", "pbkdf2:md5:1000$salt$00",
		"pbkdf2:sha512:0$salt$00", "pbkdf2:sha512:99999999999$salt$00", "pbkdf2:sha512:1000$salt$zz",
		"pbkdf2:sha512:1000$salt$", "scrypt:32768:8$salt$00", "scrypt:1000:8:1$salt$00",
		"scrypt:4194304:8:1$salt$00", "pbkdf2:sha512:1000$a$b$c",
		"sha1$$00", "sha3_256$salt$00", "pbkdf2:sha1$salt$00", "md5:1$salt$00",
	} {
		ok, err := Verify(stored, "Passw0rd!")
		if ok || err == nil {
			t.Errorf("Verify(%q) = %v, %v; want false and an error", stored, ok, err)
		}
	}
}

func TestStrong(t *testing.T) {
	cases := map[string]bool{
		"Passw0rd!": true, "Pa55-Ali!0": true, "héllo wörld 1A!": true,
		"Passw0rd": false, "passw0rd!": false, "PASSW0RD!": false, "Password!": false,
		"Pa0!": false, "Passw0rd ": false, "": false, strings.Repeat("Aa1!", 300): false,
	}
	for pw, strong := range cases {
		if got := Strong(pw); got != strong {
			t.Errorf("Strong(%q) = %v; want %v", pw, got, strong)
		}
	}
}

// BenchmarkVerify is one sign-in's password check at the default cost, the
// figure to weigh PYTWASK_HASH_ITERATIONS against: each check holds one of
// the store's hash slots (one per two cores) for this long.
func BenchmarkVerify(b *testing.B) {
	h, err := Hasher{Iterations: DefaultIterations}.Hash("Passw0rd!")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, err := Verify(h, "Passw0rd!"); !ok || err != nil {
			b.Fatalf("Verify = %v, %v", ok, err)
		}
	}
}
