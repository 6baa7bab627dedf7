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
	"strings"
	"time"
)

// slow is how long a test runs before its end is worth a line.
const slow = 3 * time.Second

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
	outputs := map[string][]string{} // package + test -> its output lines
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			fmt.Println(sc.Text()) // not JSON: pass it on
			continue
		}
		key := e.Package + " " + e.Test
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
