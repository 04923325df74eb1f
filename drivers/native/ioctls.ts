/**
 * Linux ioctl request numbers and fallocate modes used by the drivers (from `linux/fs.h`,
 * `linux/loop.h` and `linux/falloc.h`; the numbers are the same on x86-64 and arm64).
 */

/** `_IOR(0x12, 114, size_t)`: device size in bytes, as a u64. */
export const BLKGETSIZE64 = 0x80081272;
/** `_IO(0x12, 104)`: logical sector size, as an int. */
export const BLKSSZGET = 0x1268;
/** `_IO(0x12, 123)`: physical block size, as an unsigned int. */
export const BLKPBSZGET = 0x127b;
/** `_IO(0x12, 94)`: 1 when the block device is read-only. */
export const BLKROGET = 0x125e;
/** `_IO(0x12, 119)`: discard the byte range in a u64[2] {start, length}. */
export const BLKDISCARD = 0x1277;
/** `_IO(0x12, 127)`: write zeroes to the byte range in a u64[2] {start, length} (without unmapping). */
export const BLKZEROOUT = 0x127f;

/** On `/dev/loop-control`: returns the number of a free loop device, creating one if needed. */
export const LOOP_CTL_GET_FREE = 0x4c82;
/** On `/dev/loopN`: bind it to a file descriptor, with block size and flags (`struct loop_config`). */
export const LOOP_CONFIGURE = 0x4c0a;
/** On `/dev/loopN`: bind it to a file descriptor (pre-5.8 kernels). */
export const LOOP_SET_FD = 0x4c00;
/** On `/dev/loopN`: set `struct loop_info64` (flags, file name) of a bound device. */
export const LOOP_SET_STATUS64 = 0x4c04;
/** On `/dev/loopN`: set the logical sector size of a bound device. */
export const LOOP_SET_BLOCK_SIZE = 0x4c09;
/** Size of `struct loop_info64`. */
export const LOOP_INFO64_SIZE = 232;
/** On `/dev/loopN`: unbind it. */
export const LOOP_CLR_FD = 0x4c01;
/** `lo_flags`: the binding is read-only. */
export const LO_FLAGS_READ_ONLY = 1;
/** `lo_flags`: unbind automatically when the last opener closes the loop device. */
export const LO_FLAGS_AUTOCLEAR = 4;
/** `lo_flags`: the loop driver uses direct I/O on its backing file. */
export const LO_FLAGS_DIRECT_IO = 16;
/** Size of `struct loop_config` (u32 fd, u32 block_size, struct loop_info64 of 232 bytes, u64[8]). */
export const LOOP_CONFIG_SIZE = 304;
/** Offset of `info.lo_flags` inside `struct loop_config`. */
export const LOOP_CONFIG_FLAGS_OFFSET = 8 + 52;
/** Offset of `info.lo_file_name` (64 bytes) inside `struct loop_config`. */
export const LOOP_CONFIG_FILE_NAME_OFFSET = 8 + 56;

/** fallocate: keep the file size. */
export const FALLOC_FL_KEEP_SIZE = 0x01;
/** fallocate: deallocate the range (needs KEEP_SIZE); it then reads as zeroes. */
export const FALLOC_FL_PUNCH_HOLE = 0x02;
/** fallocate: zero the range, keeping it allocated. */
export const FALLOC_FL_ZERO_RANGE = 0x10;
