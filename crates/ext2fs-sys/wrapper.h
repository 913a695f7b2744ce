/* Everything the safe `ext2fs` crate needs from e2fsprogs' libext2fs and com_err. */
#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>
#include <et/com_err.h>
