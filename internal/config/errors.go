package config

import "fmt"

// Error is a bad value: drover exits 2 with this one line, naming the
// variable, the value as typed and what is accepted.
type Error struct {
	Var, Value, Accept, Detail string
	Unknown                    bool // no such variable
}

func (e *Error) Error() string {
	if e.Unknown {
		return fmt.Sprintf("%s=%q: no such variable; %s", e.Var, e.Value, e.Detail)
	}
	msg := fmt.Sprintf("%s=%q is not valid; accepted: %s", e.Var, e.Value, e.Accept)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// Invalid is the error for a value that only a check outside this package
// can refuse, once drover knows more than the environment says (its own
// privileges, its own oom_score_adj): detail says why.
func Invalid(key, detail string) error { return bad(key, typed(key), detail) }

// bad is the error for a variable's value as the user typed it.
func bad(key, value, detail string) error {
	return &Error{Var: key, Value: value, Accept: variable(key).Accept, Detail: detail}
}
