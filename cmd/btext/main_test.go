package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/btext/btext/internal/metainfo"
)

func TestMain(m *testing.M) {
	os.Exit(testscript.RunMain(m, map[string]func() int{
		"btext": func() int { return run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr) },
	}))
}

// TestScripts runs cmd/btext/testdata/script/*.txtar against the real binary.
func TestScripts(t *testing.T) {
	testdata, err := filepath.Abs(filepath.Join("..", "..", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("TESTDATA", testdata)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"serve":   cmdServe,
			"exits":   cmdExits,
			"sources": cmdSources,
		},
	})
}

// cmdServe starts "btext serve --listen 127.0.0.1:0 args..." in the
// background, waits for its "listening on" line and sets $PEER; its log
// goes to $WORK/serve.log. It is stopped when the script ends.
func cmdServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! serve")
	}
	bin, err := exec.LookPath("btext")
	ts.Check(err)
	logf, err := os.Create(ts.MkAbs("serve.log"))
	ts.Check(err)
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+ts.Getenv("PATH"))
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	ts.Check(err)
	ts.Check(cmd.Start())
	ts.Defer(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
	}()
	select {
	case l := <-line:
		addr, ok := strings.CutPrefix(l, "listening on ")
		if !ok {
			ts.Fatalf("serve printed %q", l)
		}
		ts.Setenv("PEER", addr)
	case <-time.After(10 * time.Second):
		ts.Fatalf("serve did not start listening within 10s")
	}
}

// cmdExits runs a command like exec and checks its exit code:
// "exits 4 btext handshake ...".
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE command args...")
	}
	err := ts.Exec(args[1], args[2:]...)
	got := 0
	if ee, ok := err.(*exec.ExitError); ok {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("%v", err)
	}
	if want := args[0]; want != strconv.Itoa(got) {
		ts.Fatalf("exit code %d, want %s", got, want)
	}
}

// cmdSources starts a tracker (HTTP and UDP on one port: $TRACKER) and a
// DHT node (on $PEER's port, UDP) that both know $PEER for the info hash
// given: "sources HASH" after "serve".
func cmdSources(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sources INFOHASH")
	}
	t, err := metainfo.ParseTarget(args[0])
	ts.Check(err)
	tracker, stop, err := startFakeSources(ts.Getenv("PEER"), *t.V1)
	ts.Check(err)
	ts.Defer(stop)
	ts.Setenv("TRACKER", tracker)
}
