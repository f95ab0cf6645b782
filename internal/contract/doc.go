// Package contract replays the HTTP traffic recorded between the existing Node.js worker and
// the original backend (testdata/, a copy of the specification's fixtures) against this
// backend, so that the existing worker keeps working unchanged. It has tests only.
package contract
