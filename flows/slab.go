package flows

// slabMax is the most entries allocated at once (about 10 MB).
const slabMax = 4096
