package main

import (
	"bufio"
	"io"
	"os"
	"regexp"
)

// fcMarker is a line that fc-runtime-go-sdk prints on stdout around each
// invocation (fc/function.go), by which FC tells invocations apart in its logs.
var fcMarker = regexp.MustCompile(`^FC (Initialize|Invoke|PreStop|PreFreeze) (Start|End) RequestId: [A-Za-z0-9._-]*(, Error: Unhandled function error)?$`)

// quietStdout keeps os.Stdout for what belongs there and returns the real
// stdout, where the command line writes its report. Everything else printed
// to os.Stdout is dropped but the runtime SDK's markers: the Alibaba SDK
// prints every request it sends (signed headers, the security token) to
// os.Stdout when DEBUG holds "sdk" (sdk/utils/debug.go), and neither a log
// nor the command line's stdout may carry that.
func quietStdout() *os.File {
	out := os.Stdout
	r, w, err := os.Pipe()
	if err != nil {
		os.Stdout = nil // prints then fail instead of writing
		return out
	}
	os.Stdout = w
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 4096), 1<<20)
		for sc.Scan() {
			if line := sc.Text(); fcMarker.MatchString(line) {
				_, _ = io.WriteString(out, line+"\n")
			}
		}
		// A line longer than the buffer ends the scan: drop the rest.
		_, _ = io.Copy(io.Discard, r)
	}()
	return out
}
