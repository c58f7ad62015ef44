// Package all links every processing node family into a binary: import it
// for its side effects (each node package registers its types in init).
package all
