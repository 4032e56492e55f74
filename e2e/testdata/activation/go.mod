module droveractivationtest

go 1.22

require github.com/coreos/go-systemd/v22 v22.5.0
