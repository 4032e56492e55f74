module github.com/drover-init/drover/examples/go

go 1.24
