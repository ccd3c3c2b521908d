//go:build race

package main

// raceDetector: built with -race, whose shadow memory multiplies a
// process's RSS, so the hostile tests' RSS bounds are not checked (their
// other assertions are).
const raceDetector = true
