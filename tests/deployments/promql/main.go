// Command promql parses PromQL expressions with Prometheus' own parser (promtool is not packaged for Go's module
// proxy as a library call; its parser is): one expression per line of standard input, JSON-escaped; it prints each
// one's error, if any, and exits 1 when any failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"github.com/prometheus/prometheus/promql/parser"
)

func main() {
	failed := false
	promql := parser.NewParser(parser.Options{})
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		var expr string
		if err := json.Unmarshal(scanner.Bytes(), &expr); err != nil {
			fmt.Printf("not a JSON string: %v\n", err)
			failed = true
			continue
		}
		if _, err := promql.ParseExpr(expr); err != nil {
			fmt.Printf("%q: %v\n", expr, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
