# Names vulture reports that are used by frameworks or required by signatures (see .ci/run).
server  # gunicorn's child_exit(server, worker) hook signature
frame  # signal handler signature (signum, frame)
TicketsInternals  # used in a string annotation under TYPE_CHECKING
datefmt  # logging.Formatter.formatTime(record, datefmt) signature
