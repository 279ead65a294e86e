// Package assets holds the site's templates and static files, compiled into
// the binary so that one file is the whole site.
package assets

import "embed"

// FS holds templates/*.html and static/*.
//
//go:embed templates static
var FS embed.FS
