package cli

import "golang.org/x/sys/unix"

// echoOff turns off the terminal's echo until restore is called. The prompt
// for a password is written only after this, so a password typed (or pasted)
// the moment the prompt shows is never echoed: term.ReadPassword alone turns
// echo off only once it starts reading, after the prompt is out.
func echoOff(fd int) (restore func(), err error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return nil, err
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}
