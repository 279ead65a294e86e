// Package assets holds the site's templates and static files, compiled into
// the binary so that one file is the whole site.
package assets

import "embed"

// FS holds templates/*.html, static/* and robots.txt.
//
//go:embed templates static robots.txt
var FS embed.FS
