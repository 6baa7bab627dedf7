// Command testprogress runs go test -json with the given arguments and
// prints progress as it comes: each package's ok/FAIL line as it finishes
// (the very lines go test prints, which CI reads), each test or subtest
// that took a while, and the whole output of any test that failed. It
// exits with go test's status. `make test` uses it so that a long run is
// never minutes of silence.
//
//	go run ./scripts/testprogress -race -count=1 ./...
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// slow is how long a test runs before its end is worth a line; after
// quiet without a line, the tests still running are named.
const (
	slow  = 3 * time.Second
	quiet = 30 * time.Second
)

type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

func main() {
	cmd := exec.Command("go", append([]string{"test", "-json"}, os.Args[1:]...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testprogress:", err)
		os.Exit(1)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testprogress:", err)
		os.Exit(1)
	}
	lines := make(chan []byte)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
		close(lines)
	}()
	outputs := map[string][]string{}  // package + test -> its output lines
	running := map[string]time.Time{} // top-level tests running -> since
	tick := time.NewTicker(quiet / 3)
	defer tick.Stop()
	last := time.Now()
loop:
	for {
		var b []byte
		select {
		case <-tick.C:
			// Never minutes of silence: say what is still running.
			if time.Since(last) >= quiet && len(running) > 0 {
				var names []string
				for k, since := range running {
					names = append(names, fmt.Sprintf("%s (%.0fs)", k, time.Since(since).Seconds()))
				}
				sort.Strings(names)
				fmt.Printf("    still running: %s\n", strings.Join(names, ", "))
				last = time.Now()
			}
			continue
		case l, ok := <-lines:
			if !ok {
				break loop
			}
			b = l
		}
		var e event
		if json.Unmarshal(b, &e) != nil {
			fmt.Println(string(b)) // not JSON: pass it on
			last = time.Now()
			continue
		}
		key := e.Package + " " + e.Test
		if e.Test != "" && !strings.Contains(e.Test, "/") {
			if e.Action == "run" {
				running[shortPkg(e.Package)+" "+e.Test] = time.Now()
			} else if e.Action == "pass" || e.Action == "fail" || e.Action == "skip" {
				delete(running, shortPkg(e.Package)+" "+e.Test)
			}
		}
		if e.Action == "pass" || e.Action == "fail" || e.Action == "skip" || (e.Action == "output" && e.Test == "") {
			last = time.Now()
		}
		switch e.Action {
		case "build-output":
			fmt.Print(e.Output)
		case "output":
			if e.Test != "" {
				if len(outputs[key]) < 10000 {
					outputs[key] = append(outputs[key], e.Output)
				}
				continue
			}
			// Package lines: "ok  pkg 1.2s", "FAIL pkg", "--- FAIL", panics.
			if !strings.HasPrefix(e.Output, "PASS") && !strings.HasPrefix(e.Output, "=== ") {
				fmt.Print(e.Output)
			}
		case "pass", "skip":
			if e.Test != "" && time.Duration(e.Elapsed*float64(time.Second)) >= slow {
				fmt.Printf("    %s %s %s (%.1fs)\n", e.Action, shortPkg(e.Package), e.Test, e.Elapsed)
			}
			delete(outputs, key)
		case "fail":
			if e.Test != "" {
				fmt.Printf("--- FAIL %s %s (%.1fs)\n", shortPkg(e.Package), e.Test, e.Elapsed)
				for _, l := range outputs[key] {
					if !strings.HasPrefix(l, "=== ") {
						fmt.Print(l)
					}
				}
			}
			delete(outputs, key)
		}
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		os.Exit(ee.ExitCode())
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "testprogress:", err)
		os.Exit(1)
	}
}

func shortPkg(p string) string {
	return strings.TrimPrefix(p, "github.com/btext/btext/")
}
