// Package enforce makes bans real.
//
// An Enforcer blocks source prefixes until a time. Memory, in this package,
// blocks inside the process: a transport read filter asks it before parsing.
// Kernel enforcers live in subpackages so that importing enforce stays light.
package enforce
