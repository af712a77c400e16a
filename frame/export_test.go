package frame

// InfoProblem lets the external tests (package frame_test) check a Parse
// result as the internal ones do.
var InfoProblem = infoProblem
