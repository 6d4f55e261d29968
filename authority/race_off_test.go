//go:build !race

package authority_test

// raceEnabled is set under the race detector.
const raceEnabled = false
