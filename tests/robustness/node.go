package robustness

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Bounds of a node's process.
const (
	// nodeStartTimeout bounds the wait for "listening on" after a start.
	nodeStartTimeout = 30 * time.Second
	// nodeShutdownTimeout is the node's --shutdown-timeout.
	nodeShutdownTimeout = 5 * time.Second
	// nodeStopTimeout bounds a graceful stop (SIGTERM to exit): the
	// node's shutdown timeout, leadership transfer and Serf leave, with a
	// margin for a loaded machine.
	nodeStopTimeout = nodeShutdownTimeout + 20*time.Second
	// nodeKillTimeout bounds the wait for a SIGKILLed process to be
	// reaped.
	nodeKillTimeout = 10 * time.Second
)

// Node is one `caskade serve` process of a cluster, with its address,
// its proxy, its directory and its log file. It keeps its addresses and
// directory across restarts. Safe for concurrent use.
type Node struct {
	ID      string // node ID: n1, n2, n3
	IP      string // the node's own loopback address, which it dials from
	Listen  string // its gRPC and Raft address, on IP
	Serf    string // its gossip address, on IP
	Dir     string // --data-dir
	LogPath string // stdout and stderr of every process, appended
	Proxy   *Proxy // in front of Listen; its address is the advertised one

	bin  string
	args []string // serve flags but --join
	join []string // the other nodes' Serf addresses

	// onExit is called (from the process's waiting goroutine) when a
	// process ends that the harness did not stop or kill.
	onExit func(n *Node, e Exit)

	mu struct {
		sync.Mutex          // guards proc and starts; never held while waiting for a process
		proc       *process // the running process; nil when none
		starts     int      // processes started so far
	}
}

// Exit describes how a node's process ended.
type Exit struct {
	Node      string
	Status    string // "exit status 1", "signal: killed"
	Failpoint string // the CASKADE_FAILPOINTS it ran with; "" for none
	Killed    bool   // ended by SIGKILL (from the harness or a failpoint)
	At        time.Time
}

// process is one run of the node's binary.
type process struct {
	cmd       *exec.Cmd
	failpoint string        // CASKADE_FAILPOINTS of this process
	listening chan struct{} // closed when it printed "listening on"
	done      chan struct{} // closed once the process has been reaped
	state     *os.ProcessState
	waitErr   error
	expected  atomic.Bool // the harness stopped or killed it
	paused    atomic.Bool // SIGSTOPped and not yet SIGCONTed
}

// Advertise returns the address the node advertises: its proxy's.
func (n *Node) Advertise() string { return n.Proxy.Addr() }

// Running reports whether a process of the node is running (paused
// counts as running).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.proc != nil && !n.mu.proc.exited()
}

// Paused reports whether the node's process is stopped by SIGSTOP.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.proc != nil && n.mu.proc.paused.Load()
}

// Failpoint returns the CASKADE_FAILPOINTS of the running process.
func (n *Node) Failpoint() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.proc == nil {
		return ""
	}
	return n.mu.proc.failpoint
}

// Done returns a channel closed when the current process exits; nil when
// none runs.
func (n *Node) Done() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.proc == nil {
		return nil
	}
	return n.mu.proc.done
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Start runs a process of the node with env added to the harness's
// environment (CASKADE_FAILPOINTS, CASKADE_BUGS; any CASKADE_ variable of
// the harness's own environment is left out) and waits until it prints
// "listening on". A node whose process is running is refused.
func (n *Node) Start(env ...string) error {
	p, err := n.spawn(env)
	if err != nil {
		return err
	}
	t := time.NewTimer(nodeStartTimeout)
	defer t.Stop()
	select {
	case <-p.listening:
		return nil
	case <-p.done:
		return fmt.Errorf("start %s: the process ended before listening: %s\n%s", n.ID, p.status(), n.LogTail(20))
	case <-t.C:
		p.expected.Store(true)
		_ = p.cmd.Process.Kill()
		_ = p.wait(n.ID, nodeKillTimeout)
		return fmt.Errorf("start %s: not listening after %v\n%s", n.ID, nodeStartTimeout, n.LogTail(20))
	}
}

// spawn starts the process and the goroutines that copy its stdout to
// the log (watching for "listening on") and reap it.
func (n *Node) spawn(env []string) (*process, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.proc != nil && !n.mu.proc.exited() {
		return nil, fmt.Errorf("start %s: already running", n.ID)
	}
	n.mu.starts++
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", n.ID, err)
	}
	// The child has its own descriptor of the file once started, and the
	// stdout copier its own.
	defer logf.Close()
	args := append(append([]string{}, n.args...), "--join", strings.Join(n.join, ","))
	fmt.Fprintf(logf, "=== harness: start #%d of %s at %s, env %q: %s %s\n",
		n.mu.starts, n.ID, time.Now().Format(time.RFC3339Nano), env, n.bin, strings.Join(args, " "))
	outf, err := os.OpenFile(n.LogPath, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", n.ID, err)
	}

	cmd := exec.Command(n.bin, args...)
	cmd.Env = append(harnessEnv(), env...)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		outf.Close()
		return nil, fmt.Errorf("start %s: %w", n.ID, err)
	}
	// Its own process group, so a terminal's Ctrl-C reaches the test
	// binary only, which then stops the nodes itself; and killed with
	// the harness if the harness dies without stopping it (a test
	// timeout's panic runs no cleanup).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		outf.Close()
		return nil, fmt.Errorf("start %s: %w", n.ID, err)
	}
	p := &process{
		cmd:       cmd,
		failpoint: envValue(env, "CASKADE_FAILPOINTS"),
		listening: make(chan struct{}),
		done:      make(chan struct{}),
	}
	n.mu.proc = p
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		defer outf.Close()
		sc := bufio.NewScanner(stdout)
		seen := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(outf, line)
			if !seen && strings.HasPrefix(line, "listening on ") {
				seen = true
				close(p.listening)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		<-copied // Wait closes the pipe: drain it first
		p.waitErr = cmd.Wait()
		p.state = cmd.ProcessState
		close(p.done)
		if !p.expected.Load() && n.onExit != nil {
			n.onExit(n, p.exit(n.ID))
		}
	}()
	return p, nil
}

// harnessEnv is the harness's environment without CASKADE_ variables, so
// that none of them reaches a node by accident.
func harnessEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CASKADE_") {
			env = append(env, kv)
		}
	}
	return env
}

// Kill sends SIGKILL to the node's process and waits for it to end. A
// node without a running process is left alone.
func (n *Node) Kill() error {
	p := n.current()
	if p == nil || p.exited() {
		return nil
	}
	p.expected.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	return p.wait(n.ID, nodeKillTimeout)
}

// Stop stops the node's process gracefully (SIGCONT first if it is
// paused, then SIGTERM) and waits for it to end. A process that does not
// end within nodeStopTimeout gets SIGQUIT (its goroutines' stacks go to
// its log) and then SIGKILL, and Stop reports it; so is one that exits
// with an error.
func (n *Node) Stop() error {
	p := n.current()
	if p == nil || p.exited() {
		return nil
	}
	p.expected.Store(true)
	if p.paused.Swap(false) {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(nodeStopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		// SIGQUIT makes the Go runtime write every goroutine's stack to
		// stderr (the log) and exit: that shows where it hangs.
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		if p.wait(n.ID, nodeKillTimeout) != nil {
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			if err := p.wait(n.ID, nodeKillTimeout); err != nil {
				return err
			}
		}
		return fmt.Errorf("stop %s: still running %v after SIGTERM; its goroutines were dumped to %s (SIGQUIT)", n.ID, nodeStopTimeout, n.LogPath)
	}
	if !p.state.Success() {
		return fmt.Errorf("stop %s: graceful stop ended with %s\n%s", n.ID, p.status(), n.LogTail(20))
	}
	return nil
}

// Pause stops the node's process with SIGSTOP.
func (n *Node) Pause() error {
	p := n.current()
	if p == nil || p.exited() {
		return fmt.Errorf("pause %s: not running", n.ID)
	}
	p.paused.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pause %s: %w", n.ID, err)
	}
	return nil
}

// Resume continues a paused process with SIGCONT; harmless on one that
// is not paused.
func (n *Node) Resume() error {
	p := n.current()
	if p == nil || !p.paused.Swap(false) {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("resume %s: %w", n.ID, err)
	}
	return nil
}

// current returns the node's latest process, or nil.
func (n *Node) current() *process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.proc
}

// LogTail returns the last lines of the node's log file.
func (n *Node) LogTail(lines int) string {
	b, err := os.ReadFile(n.LogPath)
	if err != nil {
		return fmt.Sprintf("(log of %s: %v)", n.ID, err)
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return fmt.Sprintf("--- last %d lines of %s:\n%s", len(all), n.LogPath, strings.Join(all, "\n"))
}

// wait waits up to d for the process to be reaped.
func (p *process) wait(id string, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("%s: process %d not reaped %v after SIGKILL", id, p.cmd.Process.Pid, d)
	}
}

// status describes how the process ended; call after done.
func (p *process) status() string {
	if p.state != nil {
		return p.state.String()
	}
	if p.waitErr != nil {
		return p.waitErr.Error()
	}
	return "unknown"
}

// exit describes the ended process; call after done.
func (p *process) exit(id string) Exit {
	e := Exit{Node: id, Status: p.status(), Failpoint: p.failpoint, At: time.Now()}
	if p.state != nil {
		if ws, ok := p.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			e.Killed = true
		}
	}
	return e
}

// envValue returns the value of name in env (NAME=value entries), or "".
func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}
