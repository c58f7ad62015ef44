package sql

import "syscall"

const syscallTERM = syscall.SIGTERM
