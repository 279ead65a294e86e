package serve

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"pytwask/app/config"
)

// Role is what a listener serves.
type Role int

const (
	// RoleSite serves the site over plain HTTP (a port, or a unix socket for nginx).
	RoleSite Role = iota + 1
	// RoleHTTPS serves the site over TLS with the automatic certificates.
	RoleHTTPS
	// RoleRedirect answers ACME HTTP-01 challenges and redirects the rest to HTTPS.
	RoleRedirect
	// roleDebug serves profiles on PYTWASK_DEBUG_ADDR; never chosen by Plan.
	roleDebug
)

func (r Role) String() string {
	return map[Role]string{RoleSite: "http", RoleHTTPS: "https", RoleRedirect: "http-redirect", roleDebug: "debug"}[r]
}

// Socket describes a socket systemd passed in (socket activation).
type Socket struct {
	Name    string // FileDescriptorName=, e.g. "http", "https", "nginx"
	Network string // "tcp" or "unix"
	Addr    string
}

// Spec is one listener to serve on.
type Spec struct {
	Role    Role
	Network string // "tcp" or "unix"
	Addr    string // host:port or socket path
	// Activated is the index of the systemd socket to use, or -1 to open Addr.
	Activated int
}

func (s Spec) String() string {
	from := "opened"
	if s.Activated >= 0 {
		from = "from systemd"
	}
	return fmt.Sprintf("%s on %s:%s (%s)", s.Role, s.Network, s.Addr, from)
}

// Plan decides every listener from the configuration and the sockets systemd
// passed (none when not socket-activated). Sockets passed by systemd replace
// any the configuration would open; they are matched by name: "https" serves
// TLS, "http" redirects to HTTPS when domains are configured (and serves the
// site otherwise), any other name serves the site.
func Plan(cfg *config.Config, activated []Socket) ([]Spec, error) {
	https := len(cfg.Domains) > 0
	var specs []Spec
	if len(activated) > 0 {
		if cfg.ListenSet {
			return nil, errors.New("PYTWASK_LISTEN is set, but systemd passed sockets (LISTEN_FDS): unset one of them")
		}
		var haveHTTPS bool
		for i, s := range activated {
			role := RoleSite
			switch s.Name {
			case "https":
				if !https {
					return nil, errors.New(`systemd passed a socket named "https", but PYTWASK_DOMAINS is not set, so there is no certificate to serve it with`)
				}
				role, haveHTTPS = RoleHTTPS, true
			case "http":
				if https {
					role = RoleRedirect
				}
			}
			specs = append(specs, Spec{Role: role, Network: s.Network, Addr: s.Addr, Activated: i})
		}
		if https && !haveHTTPS {
			return nil, errors.New(`PYTWASK_DOMAINS is set, but systemd passed no socket named "https" (FileDescriptorName=https)`)
		}
		return specs, nil
	}

	if !https || cfg.ListenSet {
		for _, l := range cfg.Listen {
			network, addr := "tcp", l
			if path, ok := strings.CutPrefix(l, "unix:"); ok {
				network, addr = "unix", path
			}
			specs = append(specs, Spec{Role: RoleSite, Network: network, Addr: addr, Activated: -1})
		}
	}
	if https {
		specs = append(specs, Spec{Role: RoleHTTPS, Network: "tcp", Addr: cfg.HTTPSAddr, Activated: -1})
		if cfg.HTTPAddr != "" {
			specs = append(specs, Spec{Role: RoleRedirect, Network: "tcp", Addr: cfg.HTTPAddr, Activated: -1})
		}
	}
	seen := map[string]Spec{}
	for _, s := range specs {
		key := s.Network + ":" + s.Addr
		if s.Network == "tcp" {
			if _, port, err := net.SplitHostPort(s.Addr); err == nil && port == "0" {
				continue // any free port: never the same one twice
			}
		}
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("%s is configured twice (for %s and for %s): check PYTWASK_LISTEN, PYTWASK_HTTPS_ADDR and PYTWASK_HTTP_ADDR", s.Addr, prev.Role, s.Role)
		}
		seen[key] = s
	}
	return specs, nil
}

// listenUnix creates a unix socket with the configured mode and group. A
// stale socket file left by a crash is replaced; a live one (another process
// serving) or a path that is not a socket is an error, and never deleted.
// Go's listener removes the file again when it is closed at a clean exit.
func listenUnix(path string, mode os.FileMode, group string) (net.Listener, error) {
	stale, err := CheckSocketPath(path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if stale {
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	}
	// Create the socket with no access and widen it once the group is right,
	// so that nobody can connect in between.
	old := syscall.Umask(0o777)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if group != "" {
		gid, err := lookupGroup(group)
		if err == nil {
			err = os.Chown(path, -1, gid)
		}
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("set group of %s to %s (PYTWASK_SOCKET_GROUP): %w", path, group, err)
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("set mode of %s: %w", path, err)
	}
	return ln, nil
}

// CheckSocketPath says whether a unix socket can be created at path. A path
// that is not a socket, or a socket another process is serving on, is an
// error: it is never deleted. stale reports a socket file that nobody serves
// on (left by a crash), which may be replaced.
func CheckSocketPath(path string) (stale bool, err error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return false, nil // nothing there; other problems show when listening
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return false, errors.New("the path exists and is not a socket; not deleting it")
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return false, errors.New("another process is serving on this socket")
	}
	return true, nil
}

func lookupGroup(name string) (int, error) {
	if gid, err := strconv.Atoi(name); err == nil {
		return gid, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(g.Gid)
}
