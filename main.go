// Command pytwask serves the pytwask site; see README.md.
package main

import (
	"os"

	"pytwask/app"
)

func main() { os.Exit(app.Main(os.Args, os.Stdin, os.Stdout, os.Stderr)) }
