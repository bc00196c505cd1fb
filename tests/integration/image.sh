# `kennel create --image DIR`: the directory is the sandbox's base instead of
# the host's /usr. The image here is made on the spot: dash, ls, cat and id
# with the libraries they need, a /etc without an agent user.
. "$(dirname "$0")/../lib.sh"

IMG=$T/image
mkdir -p "$IMG"/{bin,etc,tmp,lib64} "$IMG/lib/x86_64-linux-gnu"
for b in /bin/dash /bin/ls /bin/cat /usr/bin/id; do
	cp "$b" "$IMG/bin/"
	for lib in $(ldd "$b" | grep -o '/[^ ]*\.so[^ ]*'); do
		cp -n "$lib" "$IMG$lib" 2>/dev/null || { mkdir -p "$IMG$(dirname "$lib")"; cp -n "$lib" "$IMG$lib"; }
	done
done
ln -s dash "$IMG/bin/sh"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$IMG/etc/passwd"
printf 'root:x:0:\nagent:x:1000:\n' >"$IMG/etc/group"
echo "image-marker" >"$IMG/etc/kennel-image-marker"
WS=$T/ws
mkdir -p "$WS"

start_daemon || exit 1
# The folder kenneld makes ahead for the next sandbox (daemon/ahead.h) holds
# the host's trust bundle: an image's sandbox makes its own.
NEXT=$KENNEL_STATE/sandboxes/.next
for _ in $(seq 1 100); do [ -f "$NEXT/ca.crt" ] && break; sleep 0.1; done
sleep 0.1
cp "$NEXT/ca.crt" "$T/next.crt" 2>/dev/null
check create_with_image "$KENNEL" create --name img --image "$IMG" shell "$WS"
check_fails image_sandbox_has_its_own_ca cmp -s "$T/next.crt" "$KENNEL_STATE/sandboxes/img/ca.crt"
# It got the folder's uid base (the lowest free one): the folder is made
# again for another.
IMG_BASE=$(field img uid_base)
remade() {
	for _ in $(seq 1 100); do
		[ -f "$NEXT/ca.crt" ] && ! cmp -s "$T/next.crt" "$NEXT/ca.crt" &&
			[ "$(stat -c %u "$NEXT/upper/root" 2>/dev/null)" != "$IMG_BASE" ] && return 0
		sleep 0.1
	done
	return 1
}
check next_folder_made_again_for_another_base remade
check_out image_is_the_root '^image-marker$' "$KENNEL" exec img cat /etc/kennel-image-marker
check_out host_usr_absent 'No such file|not found' "$KENNEL" exec img ls /usr/bin/python3
check_out agent_user_added '^uid=1000\(agent\)' "$KENNEL" exec img id
check_out workspace_mounted "^$WS\$" "$KENNEL" exec img sh -c 'cd '"$WS"' && echo $PWD'
check image_layer_writable_by_root "$KENNEL" exec -u root img sh -c 'echo x >/etc/new-file'
check_out image_dir_unchanged '^absent$' sh -c "[ -e '$IMG/etc/new-file' ] && echo present || echo absent"
check_out image_file_in_layer '^x$' "$KENNEL" exec img cat /etc/new-file
check_out image_must_exist 'is not an existing absolute directory' \
	curl -s --unix-socket "$KENNEL_SOCKET" -d "{\"agent\":\"shell\",\"image\":\"$T/nope\",\"workspaces\":[{\"path\":\"$WS\"}]}" http://kenneld/sandboxes

# The same image under a microVM: it has no /usr, so the guest's root share is all.
IMGVM=imgvm-$$
check create_vm_with_image "$KENNEL" create --isolation vm --name $IMGVM --image "$IMG" shell "$WS"
run_split "$KENNEL" exec $IMGVM cat /etc/kennel-image-marker
if [ "$rc" = 0 ] && [ "$out" = image-marker ]; then
	pass vm_image_is_the_root
else
	# A guest that does not answer says why only on its console.
	fail vm_image_is_the_root "exit $rc: $out" "$err" "console (last 40 lines):" \
		"$(tail -n 40 "$KENNEL_STATE/sandboxes/$IMGVM/console.log" 2>&1)"
fi
check_out vm_image_workspace "^$WS\$" "$KENNEL" exec $IMGVM sh -c 'cd '"$WS"' && echo $PWD'
check vm_image_rm "$KENNEL" rm -f $IMGVM
