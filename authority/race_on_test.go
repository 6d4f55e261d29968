//go:build race

package authority_test

// raceEnabled is set under the race detector, which makes the SQLite
// code about twenty times slower: the crash loop then kills fewer,
// longer-lived children.
const raceEnabled = true
