// Package password holds the password rules that pytwis enforced and the
// Werkzeug password-hash formats that pytwis stored, so that a database written
// by the Python original keeps signing its users in.
package password

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/scrypt"
)

// ErrUnknownFormat reports a stored hash that is not one of the formats
// Werkzeug wrote (pbkdf2, scrypt, or an old salted digest). The hash itself
// is never put in the error.
var ErrUnknownFormat = errors.New("unsupported password hash format")

// Hasher writes new password hashes and decides when a stored one is too weak.
//
// New hashes use Werkzeug's "pbkdf2:sha512:N$salt$hex" form because every
// Werkzeug release that pytwis ran on can verify it (scrypt needs Werkzeug 2.3+),
// so a site can still fall back to the Python original.
type Hasher struct {
	// Iterations is the PBKDF2-HMAC-SHA512 iteration count of new hashes.
	Iterations int
}

// DefaultIterations is the cost of new hashes: above OWASP's 2023 advice of
// 210,000 for PBKDF2-HMAC-SHA512. One check takes 0.64-0.70 s of one core on
// a small 2-core cloud machine (BenchmarkVerify), whose SHA-512 is slow:
// there, one check at a time for every two cores allows about 1.5 sign-ins a
// second. PYTWASK_HASH_ITERATIONS lowers it; existing hashes keep their cost.
const DefaultIterations = 600_000

// saltChars is Werkzeug's SALT_CHARS; the salt is used as its ASCII bytes.
const saltChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// Hash returns a Werkzeug-format hash of password.
func (h Hasher) Hash(password string) (string, error) {
	salt := make([]byte, 16)
	for i := range salt {
		// rand.Text is base32; draw uniformly from Werkzeug's alphabet instead.
		var b [1]byte
		for {
			if _, err := rand.Read(b[:]); err != nil {
				return "", fmt.Errorf("hash password: %w", err)
			}
			if int(b[0]) < 256-256%len(saltChars) {
				break
			}
		}
		salt[i] = saltChars[int(b[0])%len(saltChars)]
	}
	key, err := pbkdf2.Key(sha512.New, password, salt, h.Iterations, sha512.Size)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return fmt.Sprintf("pbkdf2:sha512:%d$%s$%s", h.Iterations, salt, hex.EncodeToString(key)), nil
}

// NeedsRehash reports whether a stored hash is weaker than new ones would be.
// scrypt hashes at Werkzeug's own default cost or above are left alone; a
// salted digest is always replaced.
func (h Hasher) NeedsRehash(stored string) bool {
	p, err := parse(stored)
	if err != nil {
		return true
	}
	switch p.kind {
	case "pbkdf2":
		return p.digest != "sha512" || p.iterations < h.Iterations
	case "scrypt":
		return p.n < 1<<15
	default: // salted digest
		return true
	}
}

// Padding returns a hash for a caller to verify after a refused check
// against stored, so that the refusal costs what one against a hash of the
// current policy would: the iterations a weaker pbkdf2:sha512 hash lacks,
// the whole policy after any other weaker kind, and "" (nothing to add)
// after a hash at the policy or stronger. It never matches a password.
func (h Hasher) Padding(stored string) string {
	if !h.NeedsRehash(stored) {
		return ""
	}
	n := h.Iterations
	if p, err := parse(stored); err == nil && p.kind == "pbkdf2" && p.digest == "sha512" {
		n -= p.iterations
	}
	return "pbkdf2:sha512:" + strconv.Itoa(max(n, 1)) + "$padding$" + strings.Repeat("00", sha512.Size)
}

// Verify reports whether password matches a stored Werkzeug hash. The digest
// comparison is constant-time. ErrUnknownFormat is returned for hashes of
// another kind, which never match.
func Verify(stored, password string) (bool, error) {
	p, err := parse(stored)
	if err != nil {
		return false, err
	}
	want, err := hex.DecodeString(p.hexDigest)
	if err != nil || len(want) == 0 {
		return false, ErrUnknownFormat
	}
	var got []byte
	switch p.kind {
	case "pbkdf2":
		got, err = pbkdf2.Key(p.newHash, password, []byte(p.salt), p.iterations, p.keyLen)
	case "scrypt":
		got, err = scrypt.Key([]byte(password), []byte(p.salt), p.n, p.r, p.p, 64)
	default: // old Werkzeug's salted digest: HMAC of the password, keyed with the salt
		mac := hmac.New(p.newHash, []byte(p.salt))
		mac.Write([]byte(password))
		got = mac.Sum(nil)
	}
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

type parsed struct {
	kind       string // "pbkdf2", "scrypt" or "digest"
	digest     string
	newHash    func() hash.Hash
	keyLen     int
	iterations int
	n, r, p    int
	salt       string
	hexDigest  string
}

// Upper bounds keep a corrupt or hostile hash from costing minutes or gigabytes.
const (
	maxIterations = 10_000_000
	maxScryptN    = 1 << 20
)

func parse(stored string) (parsed, error) {
	method, rest, ok := strings.Cut(stored, "$")
	if !ok {
		return parsed{}, ErrUnknownFormat
	}
	salt, hexDigest, ok := strings.Cut(rest, "$")
	if !ok || strings.Contains(hexDigest, "$") {
		return parsed{}, ErrUnknownFormat
	}
	p := parsed{salt: salt, hexDigest: hexDigest}
	fields := strings.Split(method, ":")
	switch {
	case fields[0] == "pbkdf2" && len(fields) == 3:
		p.kind, p.digest = "pbkdf2", fields[1]
		if p.newHash = digests[p.digest]; p.newHash == nil || p.digest == "md5" {
			return parsed{}, ErrUnknownFormat
		}
		p.keyLen = p.newHash().Size()
		it, err := strconv.Atoi(fields[2])
		if err != nil || it < 1 || it > maxIterations {
			return parsed{}, ErrUnknownFormat
		}
		p.iterations = it
	case fields[0] == "scrypt" && len(fields) == 4:
		p.kind = "scrypt"
		var nums [3]int
		for i, f := range fields[1:] {
			v, err := strconv.Atoi(f)
			if err != nil || v < 1 {
				return parsed{}, ErrUnknownFormat
			}
			nums[i] = v
		}
		p.n, p.r, p.p = nums[0], nums[1], nums[2]
		if p.n > maxScryptN || p.n&(p.n-1) != 0 || p.r*p.p >= 1<<30 || p.r > 64 || p.p > 64 {
			return parsed{}, ErrUnknownFormat
		}
	case len(fields) == 1 && digests[method] != nil && salt != "":
		// Werkzeug before 2.3 wrote these for method="sha1" and the like;
		// it always drew a salt, so an empty one is not its own.
		p.kind, p.digest, p.newHash = "digest", method, digests[method]
	default:
		return parsed{}, ErrUnknownFormat
	}
	return p, nil
}

// digests are the hashlib names Werkzeug's hashes use; md5 only ever in an
// old salted digest, never under pbkdf2.
var digests = map[string]func() hash.Hash{
	"md5":    md5.New,
	"sha1":   sha1.New,
	"sha224": sha256.New224,
	"sha256": sha256.New,
	"sha384": sha512.New384,
	"sha512": sha512.New,
}
