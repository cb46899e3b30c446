package banbolt

// Realistic is realistic for the external tests.
var Realistic = realistic
