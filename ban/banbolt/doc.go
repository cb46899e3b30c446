// Package banbolt is a ban.Store in one file on local disk, built on bbolt.
package banbolt
