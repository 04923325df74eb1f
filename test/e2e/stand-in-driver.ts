/**
 * A stand-in driver process for rigs in the dashboard and CLI suites (the agent/server suites use the
 * same idea): `--partitions N --seconds S`, it works S seconds and prints a completion status with N
 * COMPLETE partitions in the form `blockrig task submit --wait --json` prints them. Cancel (SIGTERM) and
 * pause (SIGSTOP) act on it as on a real driver, since the agent signals the driver's process group.
 */
export const STAND_IN_DRIVER = [
  '/bin/sh',
  '-c',
  [
    'n=4; s=1',
    'while [ $# -gt 0 ]; do case "$1" in --partitions) n=$2; shift 2;; --seconds) s=$2; shift 2;; *) shift;; esac; done',
    'sleep "$s"',
    'st=""; i=0; while [ $i -lt $n ]; do st="$st${st:+,}\\"COMPLETE\\""; i=$((i+1)); done',
    'printf \'{"state":"COMPLETE","partitions":%d,"counts":{"ready":0,"inProgress":0,"complete":%d,"failed":0},"partitionStates":[%s],"bytesDone":%d,"length":%d}\\n\' $n $n "$st" $((n*1048576)) $((n*1048576))',
  ].join('\n'),
  'stand-in-driver',
];

