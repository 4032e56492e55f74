// Package release holds the tests of release/build: the artifacts it
// makes, installed and run as README says (see release/README.md).
package release
