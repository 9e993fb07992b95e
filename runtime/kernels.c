/* placeholder */ typedef int ls_placeholder_kernels;
