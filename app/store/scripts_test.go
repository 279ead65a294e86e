package store

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestScriptPlaceholders: every {placeholder} the Lua scripts use is one
// that luaKeys fills in; a misspelt one would name a key or field that
// nothing else writes.
func TestScriptPlaceholders(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	placeholder := regexp.MustCompile(`'\{[a-z_:]+\}`)
	seen := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range placeholder.FindAllString(string(src), -1) {
			seen++
			if p = p[1:]; luaKeys.Replace(p) == p {
				t.Errorf("%s: %s is not a placeholder luaKeys knows", f, p)
			}
		}
	}
	if seen == 0 {
		t.Error("found no placeholders; the pattern is wrong")
	}
}
