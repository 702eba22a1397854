package stigmem

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests run against a real `stigmem serve` (--auth none, 127.0.0.1, a free port),
// on a vault made for them with `stigmem init`. The binary is the repo's
// .venv/bin/stigmem (run ./scripts/setup) or $STIGMEM_BIN.

const startDeadline = 60 * time.Second

var (
	nodeURL    string
	nodeVault  string // the served vault's directory
	skipReason string
	stigmemBin string
)

// lockedLog is the node's stderr, written by the reader goroutine, read on failure.
type lockedLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lockedLog) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.WriteString(s)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func findStigmem() (string, error) {
	if bin := os.Getenv("STIGMEM_BIN"); bin != "" {
		return bin, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		bin := filepath.Join(dir, ".venv", "bin", "stigmem")
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no .venv/bin/stigmem above the test directory and STIGMEM_BIN unset: run ./scripts/setup at the repo root")
		}
		dir = parent
	}
}

// startNode inits a vault in a temporary directory and serves it; it returns the
// node's URL (read from its "listening on URL:" line) and a function that stops it.
// With auth "token" it also returns a read-write token for user:alice (else "").
func startNode(bin, tmp, auth string) (string, string, func(), error) {
	env := append(os.Environ(), "STIGMEM_HOME="+filepath.Join(tmp, "home"))
	vault := filepath.Join(tmp, "vault")
	initCmd := exec.Command(bin, "init", "--owner", "user:alice", vault)
	initCmd.Env = env
	if out, err := initCmd.CombinedOutput(); err != nil {
		return "", "", nil, fmt.Errorf("stigmem init: %v: %s", err, out)
	}
	token := ""
	if auth == "token" {
		tokenCmd := exec.Command(bin, "--vault", vault, "token", "create", "user:alice",
			"--scopes", "local,team,company,public", "--perms", "read,write")
		tokenCmd.Env = env
		out, err := tokenCmd.Output()
		if err != nil {
			return "", "", nil, fmt.Errorf("stigmem token create: %v", err)
		}
		token = strings.TrimSpace(string(out))
	}
	var nodeStderr lockedLog
	cmd := exec.Command(bin, "--vault", vault, "serve", "--auth", auth, "--host", "127.0.0.1",
		"--port", "0", "--sync-interval", "0", "--read-rate", "0", "--write-rate", "0")
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", "", nil, fmt.Errorf("stigmem serve: %w", err)
	}
	exited := make(chan error, 1)
	urls := make(chan string, 1)
	go func() {
		// Keep reading to the end: a full pipe would block the node.
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			line := scanner.Text()
			nodeStderr.WriteString(line + "\n")
			if rest := strings.TrimPrefix(line, "listening on "); rest != line {
				if i := strings.Index(rest, ": "); i > 0 {
					select {
					case urls <- rest[:i]:
					default:
					}
				}
			}
		}
		io.Copy(io.Discard, stderr)
		exited <- cmd.Wait()
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	select {
	case url := <-urls:
		return url, token, stop, nil
	case err := <-exited:
		return "", "", nil, fmt.Errorf("stigmem serve exited (%v): %s", err, nodeStderr.String())
	case <-time.After(startDeadline):
		stop()
		return "", "", nil, fmt.Errorf("stigmem serve: no 'listening on' line within %s: %s", startDeadline, nodeStderr.String())
	}
}

func TestMain(m *testing.M) {
	bin, err := findStigmem()
	if err != nil {
		skipReason = "no live node: " + err.Error()
		os.Exit(m.Run())
	}
	tmp, err := os.MkdirTemp("", "stigmem-go-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stigmemBin = bin
	url, _, stop, err := startNode(bin, tmp, "none")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(tmp)
		os.Exit(1)
	}
	nodeURL = url
	nodeVault = filepath.Join(tmp, "vault")
	code := m.Run()
	stop()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// node returns a client for the live node, or skips the test with the reason there is none.
func node(t *testing.T) (*Client, context.Context) {
	t.Helper()
	if nodeURL == "" {
		t.Skip(skipReason)
	}
	c, err := New(nodeURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c, ctx
}
