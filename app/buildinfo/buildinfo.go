// Package buildinfo says which build this is.
package buildinfo

import "runtime/debug"

// version is stamped by the release build:
//
//	go build -ldflags "-X pytwask/app/buildinfo.version=v1.2.3"
var version string

// Version returns the stamped version, else the module version or VCS
// revision Go recorded, else "devel".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "devel-" + s.Value[:12]
			}
		}
	}
	return "devel"
}
