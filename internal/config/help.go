package config

import (
	"fmt"
	"io"
)

// Usage prints every variable with its default, what it accepts and what it
// means: the environment part of drover --help.
func Usage(w io.Writer) {
	for _, v := range Vars() {
		fmt.Fprintf(w, "  %s (default: %s)\n      %s; accepted: %s\n", v.Key, v.Shown, v.Desc, v.Accept)
	}
}
