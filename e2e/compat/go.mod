module github.com/drover-init/drover/e2e/compat

go 1.26
