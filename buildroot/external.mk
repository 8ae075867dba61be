include $(sort $(wildcard $(BR2_EXTERNAL_RACKHA_PATH)/package/*/*.mk))

# The kernel configuration fragments must have reached the final kernel configuration: an option
# whose dependencies are missing is dropped silently by the kernel's configuration step, and a
# missing watchdog or serial driver would only show on the box.
define RACKHA_CHECK_KERNEL_FRAGMENTS
	$(BR2_EXTERNAL_RACKHA_PATH)/../board/common/check-kernel-config.sh $(@D)/.config \
		$(call qstrip,$(BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES))
endef
LINUX_POST_CONFIGURE_HOOKS += RACKHA_CHECK_KERNEL_FRAGMENTS
